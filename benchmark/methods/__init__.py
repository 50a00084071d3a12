"""Every method of the suite, one catalogue line each (registry.py); the code lives in one file per family.

Adding a method: write `benchmark/methods/<family>.py` with its nn.Module and a factory returning a
`MethodModule`, then add one `register_method` line here.
"""

from benchmark.methods.registry import METHODS, MethodEntry, create_method, register_method

__all__ = ["METHODS", "MethodEntry", "create_method", "register_method"]

# Entries are added below as method families land (issues 5, 6, 7).

# Classic, training-free methods (issue 5): benchmark/methods/classic.py
_CLASSIC = dict(kind="none", family="classic")
register_method("green", "benchmark.methods.classic:green", paper="Verkruysse et al. 2008", **_CLASSIC)
register_method("ica", "benchmark.methods.classic:ica", paper="Poh et al. 2010", **_CLASSIC)
register_method("chrom", "benchmark.methods.classic:chrom", paper="de Haan & Jeanne 2013", **_CLASSIC)
register_method("pos", "benchmark.methods.classic:pos", paper="Wang et al. 2017", **_CLASSIC)
register_method("pbv", "benchmark.methods.classic:pbv", paper="de Haan & van Leest 2014", **_CLASSIC)
register_method("lgi", "benchmark.methods.classic:lgi", paper="Pilz et al. 2018", **_CLASSIC)
register_method("omit", "benchmark.methods.classic:omit", paper="Casado & Lopez 2023", **_CLASSIC)

# Supervised networks (issue 6): benchmark/methods/can.py, efficientphys.py, physnet.py, kd.py
_KD = "Hwang et al., JESE 2023"
register_method(
    "tscan", "benchmark.methods.can:tscan", kind="supervised", family="can", paper="Liu, NeurIPS 2020"
)
register_method(
    "deepphys", "benchmark.methods.can:deepphys", kind="supervised", family="can", paper="Chen, ECCV 2018"
)
register_method(
    "efficientphys",
    "benchmark.methods.efficientphys:efficientphys",
    kind="supervised",
    family="efficientphys",
    paper="Liu, WACV 2023",
)
register_method(
    "physnet", "benchmark.methods.physnet:physnet", kind="supervised", family="physnet", paper="Yu, BMVC 2019"
)
register_method("kd-teacher", "benchmark.methods.kd:kd_teacher", kind="supervised", family="kd", paper=_KD)
register_method(
    "kd-student",
    "benchmark.methods.kd:kd_student",
    kind="supervised",
    family="kd",
    paper=_KD,
    requires=("kd-teacher",),
)
register_method(
    "kd-student-nokd", "benchmark.methods.kd:kd_student_nokd", kind="supervised", family="kd", paper=_KD
)

# The seed papers' methods (issue 7): benchmark/methods/tdm.py, rppgnet.py, stven.py, sspd.py
register_method(
    "tdm", "benchmark.methods.tdm:create_tdm", kind="supervised", family="tdm", paper="Comas, CVPRW 2022"
)
register_method(
    "rppgnet",
    "benchmark.methods.rppgnet:create_rppgnet",
    kind="supervised",
    family="rppgnet",
    paper="Yu, ICCV 2019",
)
register_method(
    "stven-rppgnet",
    "benchmark.methods.stven:create_stven_rppgnet",
    kind="supervised",
    family="rppgnet",
    paper="Yu, ICCV 2019",
    requires=("rppgnet",),  # stage 1 is the rppgnet model of the same sweep
)
register_method(
    "sspd",
    "benchmark.methods.sspd:create_sspd",
    kind="self-supervised",
    family="sspd",
    paper="Zhang, IEEE TMM 2024",
)

# Networks whose released weights the suite evaluates (issue 19.3): benchmark/methods/factorizephys.py
register_method(
    "factorizephys",
    "benchmark.methods.factorizephys:create_factorizephys",
    kind="supervised",
    family="factorizephys",
    paper="Joshi, NeurIPS 2024",
)

# The chance row (issue 18): benchmark/methods/baseline.py
register_method(
    "chance",
    "benchmark.methods.baseline:chance",
    kind="baseline",
    family="baseline",
    paper="training-set mean heart rate",
)
