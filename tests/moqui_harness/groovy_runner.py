"""Real Groovy for the component's ``<script>`` elements: one long-lived JVM (groovy/ScriptRunner.groovy).

Groovy 5.0.3 and groovy-json, the versions moqui-framework's build.gradle names, come from Maven Central through
``mvn dependency:get`` into the local Maven repository the first time; Java 17 runs them. Values cross as JSON with
BigDecimal and java.sql.Timestamp tagged, so a script sees Moqui's types and the interpreter gets Python's back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

GROOVY_VERSION = "5.0.3"  # moqui-framework framework/build.gradle: org.apache.groovy:groovy:5.0.3
_ARTIFACTS = ("groovy", "groovy-json")
_RUNNER = Path(__file__).resolve().parent / "groovy" / "ScriptRunner.groovy"


@dataclass(frozen=True)
class SentRequest:
    """An HTTP request a script sent through the RestClient stand-in: method, full URI, header names."""

    method: str
    uri: str
    header_names: tuple[str, ...]


@dataclass(frozen=True)
class ScriptRun:
    """A script's variables afterwards, the error messages it added and the HTTP requests it sent."""

    variables: dict[str, Any]
    errors: list[str]
    sent: list[SentRequest]


class GroovyScriptError(RuntimeError):
    """The script threw (Moqui turns that into an error message and rolls back)."""


def _local_repository() -> Path:
    return Path(os.environ.get("MAVEN_REPO_LOCAL", Path.home() / ".m2" / "repository"))


def groovy_jars() -> list[Path]:
    """The Groovy jars, fetched from Maven Central into the local Maven repository when missing."""
    jars = [
        _local_repository() / "org/apache/groovy" / name / GROOVY_VERSION / f"{name}-{GROOVY_VERSION}.jar"
        for name in _ARTIFACTS
    ]
    for name, jar in zip(_ARTIFACTS, jars, strict=True):
        if not jar.is_file():
            mvn = shutil.which("mvn")
            if mvn is None:
                raise RuntimeError("mvn is needed to fetch Groovy from Maven Central (apt-get install maven)")
            subprocess.run(
                [mvn, "-q", "-B", "dependency:get", f"-Dartifact=org.apache.groovy:{name}:{GROOVY_VERSION}"],
                check=True,
            )
    return jars


def encode(value: Any) -> Any:
    """A Python value as the runner's JSON (Decimal and datetime tagged)."""
    if isinstance(value, Decimal):
        return {"$bigDecimal": format(value, "f")}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"$timestamp": int(aware.timestamp() * 1000)}
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """The runner's JSON as Python values (naive UTC datetimes, as the entity engine keeps them)."""
    if isinstance(value, dict):
        if "$bigDecimal" in value:
            return Decimal(value["$bigDecimal"])
        if "$timestamp" in value:
            return datetime.fromtimestamp(value["$timestamp"] / 1000, UTC).replace(tzinfo=None)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class GroovyRunner:
    """The JVM running scripts; ``await run(script, context)`` gives the script's variables and error messages."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls) -> GroovyRunner:
        """Start the JVM (the jars are fetched first when missing)."""
        jars = await asyncio.to_thread(groovy_jars)
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is needed to run Groovy (apt-get install default-jre-headless)")
        process = await asyncio.create_subprocess_exec(
            java,
            "-cp",
            os.pathsep.join(str(jar) for jar in jars),
            "groovy.ui.GroovyMain",
            str(_RUNNER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            answer = json.loads(line)
            future = self._waiting.pop(answer["id"], None)
            if future is not None and not future.done():
                future.set_result(answer)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RuntimeError("the Groovy runner stopped"))

    async def run(self, script: str, context: Mapping[str, Any], properties: Mapping[str, str]) -> ScriptRun:
        """Run ``script`` with ``context`` as its binding and ``properties`` as System properties.

        Answers the binding's variables afterwards (``ec`` left out), the error messages the script added and the
        HTTP requests it sent.
        """
        assert self._process.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        request = {"id": request_id, "script": script, "context": encode(context), "properties": dict(properties)}
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        await self._process.stdin.drain()
        answer = await future
        if "exception" in answer:
            raise GroovyScriptError(str(answer["exception"]))
        return ScriptRun(
            decode(answer["context"]),
            [str(message) for message in answer["errors"]],
            [SentRequest(str(r["method"]), str(r["uri"]), tuple(r["headers"])) for r in answer["sent"]],
        )

    async def close(self) -> None:
        """Stop the JVM."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        self._reader.cancel()
