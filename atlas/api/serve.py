"""Running the API on uvicorn: one process, or N forked worker processes sharing one socket."""

from __future__ import annotations

import logging
import os
import signal

from atlas.config import AtlasConfig

log = logging.getLogger(__name__)


def serve(config: AtlasConfig) -> None:
    """Serve `create_app(config)` on api_host:api_port with api_workers processes until stopped.

    With more than one worker the parent binds the socket, forks the workers (before any store
    is opened: the app opens them on first use, so each worker gets its own read-only DuckDB
    handle, Neo4j driver and card cache) and forwards SIGTERM/SIGINT to them; when one worker
    exits, the others are stopped too.
    """
    import uvicorn

    from atlas.api import create_app

    uv_config = uvicorn.Config(create_app(config), host=config.api_host, port=config.api_port,
                               log_level="warning")
    if config.api_workers == 1:
        uvicorn.Server(uv_config).run()
        return
    sock = uv_config.bind_socket()
    children = [_fork_worker(uv_config, sock) for _ in range(config.api_workers)]
    sock.close()

    def stop(signum: int, _frame: object) -> None:
        _signal_all(children, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    status = 0
    while children:
        pid, code = os.wait()
        if pid in children:
            children.remove(pid)
            status = status or os.waitstatus_to_exitcode(code)
            _signal_all(children, signal.SIGTERM)
    if status not in (0, -signal.SIGTERM, -signal.SIGINT):
        log.error("an API worker exited with status %s", status)
        raise SystemExit(1)


def _fork_worker(uv_config, sock) -> int:  # noqa: ANN001 - uvicorn.Config, socket.socket
    import uvicorn

    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        uvicorn.Server(uv_config).run(sockets=[sock])
    except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
        log.exception("API worker %s failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
