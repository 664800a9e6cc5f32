// Package servertest runs real servers that discovery strategies talk to
// (etcd, PostgreSQL) as child processes of the test, on loopback, in the
// test's temp dir, and kills them by PID when the test ends. It also runs
// the cluster members those strategies feed: a real Erlang-distribution
// node with its own topology per member.
//
// A missing binary skips the test with the install step, and fails it
// under CI=true (see internal/testkit/testenv).
package servertest
