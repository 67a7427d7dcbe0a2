"""`helpdeck kb add PATH… --company …`: the real command, run as a subprocess against the test stack."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import Api, Tenant
from tests.knowledge_api.support import search

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"


async def _run_cli(*args: str) -> tuple[int, str]:
    helpdeck = Path(sys.executable).parent / "helpdeck"
    env = {**os.environ, "COLUMNS": "160", "HELPDECK_API_KEY": ""}
    process = await asyncio.create_subprocess_exec(
        str(helpdeck), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=480)
    return int(process.returncode or 0), output.decode()


@pytest.mark.timeout(600)
async def test_kb_add_ingests_files_and_folders_and_exits_1_listing_what_failed(
    api: Api, tenant: Tenant, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    (folder / "policies").mkdir(parents=True)
    (folder / "returns.md").write_text("# Returns\n\nZorblax gadgets may be returned within 61 days of delivery.\n")
    (folder / "policies" / "shipping.html").write_text(
        "<html><head><title>Shipping</title></head><body><h1>Shipping</h1>"
        "<p>Zorblax parcels reach Iceland in six working days.</p></body></html>"
    )
    (folder / "logo.png").write_bytes(PNG)
    (folder / ".hidden.txt").write_text("never uploaded")
    single = tmp_path / "warranty.txt"
    single.write_text("Every Zorblax gadget carries a warranty of 27 months against manufacturing defects.")

    code, output = await _run_cli(
        "kb", "add", str(folder), str(single), "--company", tenant.id, "--api", api.url, "--key", tenant.key
    )

    assert code == 1, output
    assert "3 of 4 files ready" in output, output
    # The overall bar and one bar per file, each at its end state.
    assert "all files" in output and "4/4" in output, output
    for name in ("returns.md", "shipping.html", "warranty.txt", "logo.png"):
        assert name in output, output
    failures = output[output.index("files ready") :]
    assert "logo.png" in failures and "unsupported_type" in failures, output
    assert "returns.md" not in failures and ".hidden" not in output, output

    listed = (await tenant.client.get("/v1/documents")).json()["items"]
    assert sorted(d["source"] for d in listed) == ["returns.md", "shipping.html", "warranty.txt"]
    assert {d["status"] for d in listed} == {"ready"}
    hits = await search(tenant, "how long is the Zorblax warranty")
    assert hits and hits[0]["source"] == "warranty.txt"


async def test_kb_add_refuses_a_key_of_another_company(api: Api, tenant: Tenant, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("A note.")
    code, output = await _run_cli(
        "kb", "add", str(note), "--company", "00000000-0000-0000-0000-000000000000", "--api", api.url,
        "--key", tenant.key,
    )  # fmt: skip
    assert code == 2 and "belongs to company" in output, output
    assert (await tenant.client.get("/v1/documents")).json()["items"] == []


async def test_kb_add_exits_2_for_a_path_that_does_not_exist(api: Api, tenant: Tenant, tmp_path: Path) -> None:
    code, output = await _run_cli(
        "kb", "add", str(tmp_path / "missing"), "--company", tenant.id, "--api", api.url, "--key", tenant.key
    )
    assert code == 2 and "does not exist" in output, output
