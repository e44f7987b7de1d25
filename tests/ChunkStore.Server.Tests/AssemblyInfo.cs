// Every test starts a real server in this process. Run them one at a time: the servers' meters share names (the
// Prometheus scrape of one would count another's inserts), and timing-bound tests (lease expiry, grace periods) stay
// honest on a loaded 2-core machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
