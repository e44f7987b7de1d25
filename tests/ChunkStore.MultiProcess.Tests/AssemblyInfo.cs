using Xunit;

// The tests start child processes and measure orders of events between them; on a 2-core machine running them
// one at a time keeps the children from starving each other (and keeps the run time predictable).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
