"""Jobs: huey queue of delivery ids, workers (claim, lock, process, retry), recovery, missed deliveries."""
