"""``maestro`` command line: the demo, the UI, and (as they land) the ledger and lineage tools."""

from __future__ import annotations

import argparse
import os
import sys

from config.settings import Settings


def _ui(args: argparse.Namespace) -> int:
    """The Dagster UI and daemon on this installation (:func:`orchestration.services.run_ui`).

    The instance is configured and its storage created once, under a lock, before any Dagster
    process starts. Unless ``--no-sandbox``, the loopback stand-ins of the demo run beside it (S3
    with carrier files, the catalogue API, the push endpoint), so every sensor has something real
    to watch.
    """
    from orchestration.instance import prepare_instance
    from orchestration.services import configure_logging, run_ui
    from orchestration.webserver import allowed_hosts

    configure_logging()
    settings = Settings.from_env()
    prepare_instance(settings)
    hosts = allowed_hosts(args.host, args.allowed_host)
    print(
        f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={settings.dagster_home}); "
        f"answering Host {', '.join(hosts)}",
        file=sys.stderr,
    )
    os.chdir(settings.repo_root)
    workspace = settings.repo_root / "workspace.yaml"
    if args.no_sandbox:
        return run_ui(workspace, host=args.host, port=args.port, allowed_hosts=hosts)
    from contracts.loader import load_contracts
    from sandbox.environment import demo_environment

    with demo_environment(settings, sorted(load_contracts(settings.contracts_dir))) as env:
        print(
            f"loopback stand-ins: S3 {env.s3_endpoint}, catalogue API {env.api_url}, push endpoint "
            f"{env.push_url}",
            file=sys.stderr,
        )
        return run_ui(workspace, host=args.host, port=args.port, allowed_hosts=hosts)


KEYED = {"verify", "checkpoint", "pubkey"}


def _ledger(rest: list[str]) -> int:
    """``maestro ledger <command> [args]``: the ledger CLI on this installation's ledger."""
    from provenance.cli import main as ledger_main
    from provenance.lineage import LineageSettings

    if not rest or rest[0] in ("-h", "--help"):
        return ledger_main(["--help"])
    ls = LineageSettings.from_settings(Settings.from_env())
    command, args = rest[0], rest[1:]
    if command == "verify-inclusion":
        return ledger_main(rest)
    extra = (
        ["--key-dir", str(ls.key_dir)]
        if command in KEYED and "--key-dir" not in args and "--vkey" not in args
        else []
    )
    if ls.endpoint_url and "--endpoint-url" not in args:
        extra += ["--endpoint-url", ls.endpoint_url]
    return ledger_main([command, *extra, str(ls.ledger_dir), *args])


def _lineage(rest: list[str]) -> int:
    """``maestro lineage <upstream|downstream|columns|runs|datasets> [args]`` on this ledger."""
    from provenance.lineage import LineageSettings
    from provenance.lineage.cli import main as lineage_main

    if not rest or rest[0] in ("-h", "--help"):
        return lineage_main(["--help"])
    ls = LineageSettings.from_settings(Settings.from_env())
    endpoint = ["--endpoint-url", ls.endpoint_url] if ls.endpoint_url and "--endpoint-url" not in rest else []
    return lineage_main([rest[0], *endpoint, str(ls.ledger_dir), *rest[1:]])


def main(argv: list[str] | None = None) -> int:
    from orchestration.home import private_umask

    private_umask()  # everything this command and the processes it starts create is private
    parser = argparse.ArgumentParser(prog="maestro", description="Maestro Conductor command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the main job end to end and print what it built")
    ui = sub.add_parser("ui", help="open the Dagster UI (webserver and daemon) on loopback")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name the webserver answers, e.g. the name behind your proxy (repeatable; "
        "loopback names and the bound address are always allowed, every other name is refused)",
    )
    ui.add_argument(
        "--no-sandbox",
        action="store_true",
        help="do not start the loopback S3, catalogue API and push endpoint beside the UI",
    )
    sub.add_parser(
        "ledger", help="the provenance ledger: verify, checkpoint, prove, consistency, pubkey", add_help=False
    )
    sub.add_parser(
        "lineage",
        help="lineage from the ledger: upstream, downstream, columns, runs, datasets",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from orchestration.demo import main as demo_main

        return demo_main(rest)
    if args.command == "ui":
        return _ui(args)
    if args.command == "ledger":
        return _ledger(rest)
    if args.command == "lineage":
        return _lineage(rest)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
