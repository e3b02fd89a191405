"""The sandbox GitHub: a local, faithful GitHub for tests and the demo.

``Sandbox`` runs one in-process and plays the people and systems around a repository;
``RemoteSandbox`` drives one running in another process (``trunkline sandbox``).
"""

from .actors import ActorError, Actors, RemoteSandbox, Sandbox

__all__ = ["ActorError", "Actors", "RemoteSandbox", "Sandbox"]
