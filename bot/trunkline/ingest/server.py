"""Run the ingest app in a background thread on a loopback port (tests, demos, embedding).

``trunkline serve`` runs uvicorn in the main thread instead (see ``trunkline.jobs.service``).
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from trunkline.ingest.app import WEBHOOK_PATH, create_ingest_app
from trunkline.jobs.queue import JobQueue
from trunkline.settings import Settings
from trunkline.store.base import Store


class IngestServer:
    def __init__(self, settings: Settings, store: Store, queue: JobQueue, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.app = create_ingest_app(settings, store, queue)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.webhook_url = self.url + WEBHOOK_PATH
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="trunkline-ingest-http")

    def start(self) -> IngestServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("ingest server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> IngestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
