import argparse

import pytest
from aiohttp import web

from bot import cli_export, cli_fhir, cli_staff
from tests.fhir.standin import FhirServer


def parse(*argv):
    parser = argparse.ArgumentParser(prog="healthbot")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_staff.register(sub)
    cli_export.register(sub)
    cli_fhir.register(sub)
    return parser.parse_args(list(argv))


async def cli(rt, *argv) -> int:
    args = parse(*argv)
    return await args.func(args, rt)


@pytest.fixture
def rt(runtime, tmp_path):
    """The runtime, with its data folder (push checkpoints) in the test's own folder."""
    runtime.settings = runtime.settings.model_copy(update={"data_dir": tmp_path / "var"})
    return runtime


@pytest.fixture
async def fhir_server():
    server = FhirServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}/fhir"
    yield server
    await runner.cleanup()
