package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/libcluster-go/libcluster/httpapi"
)

// maxMembersBody bounds the /members answer a client reads.
const maxMembersBody = 4 << 20

func cmdMembers(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("members", "--http ADDR [--json]", stderr)
	addr := fs.String("http", "", "host:port of the node's HTTP endpoint (its http.listen)")
	asJSON := fs.Bool("json", false, "print the JSON answer as is")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *addr == "" {
		fmt.Fprintln(stderr, "libcluster members: --http is required, e.g. --http 127.0.0.1:4000 (the node's http.listen)")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	m, raw, err := fetchMembers(ctx, http.DefaultClient, *addr)
	if err != nil {
		fmt.Fprintln(stderr, "libcluster members:", err)
		return exitFailure
	}
	if *asJSON {
		stdout.Write(raw)
		return exitOK
	}
	printMembers(stdout, m)
	return exitOK
}

func membersURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/") + "/members"
	}
	return "http://" + addr + "/members"
}

func fetchMembers(ctx context.Context, c *http.Client, addr string) (httpapi.Members, []byte, error) {
	var m httpapi.Members
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, membersURL(addr), nil)
	if err != nil {
		return m, nil, fmt.Errorf("invalid --http %q: %v; want host:port", addr, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return m, nil, fmt.Errorf("cannot reach the node at %s: %v; is it running with http.listen set to that address?", addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxMembersBody))
	if err != nil {
		return m, nil, fmt.Errorf("reading the answer from %s: %v", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return m, nil, fmt.Errorf("%s answered %s; is it a libcluster node?", addr, resp.Status)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, nil, fmt.Errorf("%s sent an answer that is not membership JSON: %v", addr, err)
	}
	return m, raw, nil
}

func printMembers(w io.Writer, m httpapi.Members) {
	fmt.Fprintf(w, "self: %s\nconnected (%d):\n", m.Self, len(m.Nodes))
	for _, n := range m.Nodes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	names := make([]string, 0, len(m.Topologies))
	for n := range m.Topologies {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := m.Topologies[n]
		ready := "not ready"
		if t.Ready {
			ready = "ready"
		}
		fmt.Fprintf(w, "topology %s: %s, %d of %d desired nodes connected\n", n, ready, len(t.Connected), len(t.Desired))
		for _, d := range t.Desired {
			state := "not connected"
			if slices.Contains(t.Connected, d) {
				state = "connected"
			}
			fmt.Fprintf(w, "  %-40s %s\n", d, state)
		}
		if t.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", t.LastError)
		}
	}
}
