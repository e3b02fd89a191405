"""Run logs over HTTP: signed, expiring links (:mod:`.links`), where the files are (:mod:`.files`) and the
routes ``trunkline serve`` adds (:mod:`.http`)."""
