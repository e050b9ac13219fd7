"""The SecantusDB that ``make run``, the tests and the benchmarks start keeps no oplog and
allocates through jemalloc.

Nothing in Kubeward reads an oplog (no change streams, no transactions); SecantusDB would
otherwise copy every written document into it and keep it for an hour. With glibc's malloc
its memory kept growing under a steady load (``bench.soak``).
"""

from __future__ import annotations

from pathlib import Path

from pymongo import AsyncMongoClient

from kubeward.devstack import infra
from kubeward.devstack.procs import free_port


async def test_started_database_is_standalone_without_an_oplog(tmp_path: Path) -> None:
    port = free_port()
    proc = infra.mongo(port, tmp_path / "data", tmp_path)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", retryWrites=False
    )
    try:
        hello = await client.admin.command("hello")
        assert "setName" not in hello, hello
        await client.kw.things.insert_many([{"_id": i, "blob": "x" * 100} for i in range(50)])
        await client.kw.things.update_one({"_id": 1}, {"$set": {"seen": True}})
        assert await client.kw.things.count_documents({}) == 50
        oplog = await client.local.oplog.rs.count_documents({"ns": "kw.things"})
        assert oplog == 0
    finally:
        await client.close()
        proc.stop()


def test_started_database_allocates_through_jemalloc(tmp_path: Path) -> None:
    """``scripts/install.sh`` installs jemalloc; the server started has it loaded."""
    assert infra.jemalloc() is not None, "libjemalloc2 is not installed (scripts/install.sh)"
    proc = infra.mongo(free_port(), None, tmp_path)
    try:
        assert proc.popen is not None
        maps = Path(f"/proc/{proc.popen.pid}/maps").read_text()
        assert "libjemalloc" in maps
    finally:
        proc.stop()
    plain = infra.mongo(free_port(), None, tmp_path, use_jemalloc=False)
    try:
        assert plain.popen is not None
        assert "libjemalloc" not in Path(f"/proc/{plain.popen.pid}/maps").read_text()
    finally:
        plain.stop()
