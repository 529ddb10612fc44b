"""The ``watchfloor`` command line (DESIGN §6).

Headless subcommands import no Textual, so ``status`` and ``logs`` start fast; the UI
is imported only when the console itself runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Options accepted before and after the subcommand; sub-parsers must not reset
    # values given before the subcommand, hence SUPPRESS there.
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=default, help="config file (YAML)")
    parser.add_argument("--env", metavar="NAME", default=default, help="show only this environment")
    parser.add_argument(
        "--read-only", action="store_true", default=False if top else argparse.SUPPRESS, help="make every write impossible"
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=default)
    parser.add_argument(
        "--demo",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="run against the embedded demo clusters (simulated, in-process, 127.0.0.1 only)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchfloor",
        description="One console for Docker and Kubernetes: live health, logs, metrics and guided runbooks.",
    )
    _common(parser, top=True)
    parser.add_argument("--theme", choices=["dark", "light", "high-contrast", "colour-blind"], default=None)
    parser.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        default=None,
        help="serve the console's figures and health as Prometheus metrics on this port (docs/availability.md)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address for --metrics-port (default 127.0.0.1: the page names every workload and has no auth)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = commands.add_parser("status", help="print the health of every environment and exit")
    _common(status, top=False)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    logs = commands.add_parser("logs", help="print the logs of a workload (ENV/WORKLOAD)")
    _common(logs, top=False)
    logs.add_argument("target", metavar="ENV/WORKLOAD", help="e.g. local/shop/web or local/web")
    logs.add_argument("--follow", "-f", action="store_true")
    logs.add_argument("--since", metavar="DURATION", help="e.g. 5m, 1h")
    logs.add_argument("--tail", metavar="N", type=int, default=None)

    runbook = commands.add_parser("runbook", help="list, show, run or resume runbooks without the UI")
    _common(runbook, top=False)
    verbs = runbook.add_subparsers(dest="runbook_command", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="the runbooks there are (built-in and your runbooks_dir)")
    _common(listing, top=False)
    listing.add_argument("--json", action="store_true")
    show = verbs.add_parser("show", help="one runbook's parameters and steps")
    _common(show, top=False)
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    run = verbs.add_parser("run", help="run a runbook against one workload (exit 0 ok, 1 failed, 2 bad input, 3 aborted/locked, 4 unreachable)")
    _common(run, top=False)
    run.add_argument("name")
    run.add_argument("--workload", required=True, metavar="NAME", help="NAME or GROUP/NAME")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="a parameter, e.g. image=web:1.5.0")
    run.add_argument("--yes", action="store_true", help="answer confirm steps and tick manual checklists")
    run.add_argument("--json", action="store_true", help="print the result document on stdout")
    run.add_argument("--break-stale-lock", action="store_true", help="break the workload's lock if its holder is gone (journaled)")
    resume = verbs.add_parser("resume", help="continue an interrupted run from its journal")
    _common(resume, top=False)
    resume.add_argument("run_id")
    resume.add_argument(
        "--choice",
        choices=["redo", "done", "skip", "abort", "recommended"],
        default=None,
        help="what to do with the interrupted step (default: the recommended one, after observing the workload)",
    )
    resume.add_argument("--yes", action="store_true")
    resume.add_argument("--json", action="store_true")
    resume.add_argument("--break-stale-lock", action="store_true", help="break the workload's lock if its holder is gone (journaled)")

    history = commands.add_parser("history", help="past runs from the journals, newest first")
    _common(history, top=False)
    history.add_argument("--json", action="store_true")
    history.add_argument(
        "--audit",
        action="store_true",
        help="one line per audited event (writes, confirmations, locks, refusals) with its actor",
    )
    history.add_argument("--since", metavar="DURATION", help="only runs (or, with --audit, events) this recent, e.g. 24h, 7d; also the figures' window (default 30d)")
    history.add_argument("--workload", metavar="NAME", help="only this workload (NAME or GROUP/NAME)")
    history.add_argument(
        "--figures",
        action="store_true",
        help="only the delivery figures (DORA keys, durations, satisfaction); see docs/delivery-metrics.md",
    )

    serve = commands.add_parser("serve", help="serve the console to a browser (textual-serve); see docs/browser-mode.md")
    _common(serve, top=False)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; the console has no auth of its own)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")

    availability = commands.add_parser(
        "availability", help="availability over 24h/7d/30d, SLOs and error budgets, from recorded health (exit 1: a budget is overspent)"
    )
    _common(availability, top=False)
    availability.add_argument("--json", action="store_true", help="machine-readable output")

    check = commands.add_parser("check-config", help="validate a config file")
    _common(check, top=False)
    check.add_argument("path", nargs="?", help="config file (default: the one the console would use)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.metrics_port is not None and args.command is not None:
        parser.error("--metrics-port applies to the console itself (no COMMAND); see docs/availability.md")
    if args.command == "check-config":
        return _check_config(args)
    if args.command == "serve":
        return _serve(args)
    if args.demo:
        return _with_demo(args)
    config, source, warnings = _load_config(args.config)
    if config is None:
        return EXIT_BAD_INPUT
    args.config_warnings = warnings
    return _dispatch(args, config, source)


def _dispatch(args, config, source) -> int:
    from console.locations import use_state_dir
    from console.redact import declare_secret_values

    use_state_dir(config.state_dir)
    # The config names the variables (secrets:); their values are hidden in every
    # view, log, journal and --json output of this process.
    declare_secret_values(os.environ.get(name, "") for name in config.secrets)
    if args.command == "status":
        return _status(args, config)
    if args.command == "logs":
        return _logs(args, config)
    if args.command == "runbook":
        return _runbook(args, config)
    if args.command == "availability":
        return _availability(args, config)
    if args.command == "history":
        from console.runbook.headless import print_history

        return print_history(args, config)
    return _console(args, config, source)


def _serve(args) -> int:
    # Each browser tab runs its own console (and, with --demo, its own demo clusters):
    # the server only checks the config once, up front, so a bad one fails here.
    if not args.demo and _load_config(args.config)[0] is None:
        return EXIT_BAD_INPUT
    from console.serve import serve

    return serve(args)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (1-65535)")
    return port


def _with_demo(args) -> int:
    """Start the embedded demo clusters, run the command against them, stop them."""
    from adapters.demo import DemoCluster
    from console.backends import demo_config

    with DemoCluster() as demo:
        config = demo_config(demo)
        if args.command is not None:
            # A one-shot command would otherwise catch the demo's pods still starting.
            _wait_until_settled(config)
        return _dispatch(args, config, "demo")


def _wait_until_settled(config, timeout: float = 20.0) -> None:
    """Wait until no demo pod is still starting (crash loops count as settled)."""
    import time

    from adapters.base import AdapterError
    from console.backends import backends_for
    from console.model import Health

    deadline = time.monotonic() + timeout
    for backend in backends_for(config):
        adapter = backend.make_adapter()
        try:
            adapter.connect()
            while time.monotonic() < deadline:
                replicas = adapter.snapshot().replicas
                if replicas and all(r.health is not Health.PROGRESSING for r in replicas):
                    break
                time.sleep(0.25)
        except AdapterError:
            pass
        finally:
            adapter.close()


def _load_config(explicit: str | None):
    from console.config import ConfigError, default_config, load_config
    from console.locations import config_path

    path = config_path(explicit)
    if path is None:
        return default_config(), None, []
    warnings: list = []
    try:
        config = load_config(path, warnings=warnings)
    except ConfigError as error:
        print(f"watchfloor: invalid config\n{error}", file=sys.stderr)
        return None, path, []
    _print_warnings(warnings)
    return config, path, warnings


def _print_warnings(warnings) -> None:
    for warning in warnings:
        print(f"watchfloor: warning: {warning}", file=sys.stderr)


def _check_config(args) -> int:
    from console.config import ConfigError, load_config
    from console.locations import config_path

    path = Path(args.path) if args.path else config_path(args.config)
    if path is None:
        print("watchfloor: no config file found; the console would run with defaults (local Docker engine)")
        return 0
    warnings: list = []
    try:
        config = load_config(path, warnings=warnings)
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    _print_warnings(warnings)
    names = ", ".join(e.name for e in config.environments) or "none (the local Docker engine is used)"
    print(f"{path}: OK — environments: {names}")
    return 0


def _backends(args, config):
    from console.backends import backends_for

    backends = backends_for(config, read_only=bool(args.read_only), only=args.env)
    if args.env and not backends:
        known = ", ".join(b.environment.name for b in backends_for(config)) or "none"
        print(f"watchfloor: no environment named {args.env!r} (known: {known})", file=sys.stderr)
        return None
    return backends


def _setup_logging(args, config) -> None:
    from console.locations import log_file
    from console.structured_log import configure

    try:
        configure(log_file(), args.log_level or config.log_level)
    except OSError as error:
        # Reading and watching need no state dir; anything that must write a journal
        # refuses on its own, saying why. So: a warning, not an exit.
        where = getattr(error, "filename", None) or "the state dir"
        print(
            f"watchfloor: warning: no structured log: {where}: {error.strerror or error} "
            "(fix state_dir in the config, or free space)",
            file=sys.stderr,
        )
        return
    _log_config_warnings(args)


def _log_config_warnings(args) -> None:
    warnings = getattr(args, "config_warnings", None) or []
    if not warnings:
        return
    import structlog

    log = structlog.get_logger("watchfloor.config")
    for warning in warnings:
        # Where and what, never the value: the problem does not hold it.
        log.warning(
            "config.literal_secret",
            file=warning.file,
            line=warning.line,
            field=warning.field,
            message=warning.message,
            hint=warning.hint,
        )


def _status(args, config) -> int:
    from console.status import as_json, as_text, collect, exit_code

    _setup_logging(args, config)
    backends = _backends(args, config)
    if backends is None:
        return EXIT_BAD_INPUT
    store = collect(backends)
    document = as_json(store)
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=False))
    else:
        print(as_text(document))
    return exit_code(store)


def _logs(args, config) -> int:
    from console.durations import parse_duration
    from console.headless_logs import print_logs

    _setup_logging(args, config)
    env_name, _, workload = args.target.partition("/")
    if not workload:
        print("watchfloor: logs needs ENV/WORKLOAD, e.g. local/web or local/shop/web", file=sys.stderr)
        return EXIT_BAD_INPUT
    since = None
    if args.since:
        try:
            since = datetime.now(UTC) - parse_duration(args.since)
        except ValueError as error:
            print(f"watchfloor: --since: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    args.env = env_name
    backends = _backends(args, config)
    if backends is None:
        return EXIT_BAD_INPUT
    return print_logs(backends[0], workload, follow=args.follow, since=since, tail=args.tail)


def _runbook(args, config) -> int:
    from console.runbook import headless

    _setup_logging(args, config)
    verb = args.runbook_command
    if verb == "list":
        return headless.list_runbooks(args, config)
    if verb == "show":
        return headless.show_runbook(args, config)
    if verb == "run":
        return headless.run_runbook(args, config)
    return headless.resume_runbook(args, config)


def _console(args, config, source) -> int:
    _setup_logging(args, config)
    backends = _backends(args, config)
    if backends is None:
        return EXIT_BAD_INPUT
    from console.app import WatchfloorApp

    recorder = _availability_recorder(config)
    app = WatchfloorApp(
        backends, theme=args.theme or config.theme, config_source=source, demo=config.demo, config=config, availability=recorder
    )
    exporter = None
    if args.metrics_port is not None:
        from console.metrics_exporter import ConsoleCollector, MetricsExporter

        try:
            exporter = MetricsExporter(
                ConsoleCollector(app.store, availability=recorder, runs=app.run_board.runs),
                host=args.metrics_host,
                port=args.metrics_port,
            )
        except OSError as error:
            print(
                f"watchfloor: --metrics-port: cannot listen on {args.metrics_host}:{args.metrics_port}: {error.strerror or error}",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
    try:
        app.run()
    finally:
        if exporter is not None:
            exporter.close()
        if recorder is not None:
            recorder.stop_soon()
            recorder.join(5)  # the UI has ended: its last lines and fsync, off the UI thread
    return app.return_code or 0


def _availability_recorder(config):
    from console.availability import AvailabilityRecorder, slos_of
    try:
        directory = _availability_dir(config)
    except OSError as error:
        print(f"watchfloor: warning: availability is not recorded: {error}", file=sys.stderr)
        return None
    return AvailabilityRecorder(directory, slos=slos_of(config))


def _availability_dir(config):
    from console.locations import availability_dir

    directory = availability_dir()
    if config.demo:
        # The simulated clusters' history stays apart from real environments of the same name.
        directory = directory / "demo"
        directory.mkdir(mode=0o700, exist_ok=True)
    return directory


def _availability(args, config) -> int:
    import time

    from console.availability import overspent, recorded_environments, report, report_text, slos_of
    from console.backends import backends_for
    try:
        directory = _availability_dir(config)
    except OSError as error:
        print(f"watchfloor: cannot read the state dir: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    names = list(dict.fromkeys([b.environment.name for b in backends_for(config)] + recorded_environments(directory)))
    if args.env:
        if args.env not in names:
            print(f"watchfloor: no environment named {args.env!r} (known: {', '.join(names) or 'none'})", file=sys.stderr)
            return EXIT_BAD_INPUT
        names = [args.env]
    document = report(directory, names, time.time(), slos_of(config))
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(report_text(document))
    return 1 if overspent(document) else 0


def run() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
