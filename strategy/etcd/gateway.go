package etcd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The strategy talks to etcd's v3 JSON gateway (served on the client URLs
// by every etcd since 3.4) with net/http: a handful of requests, so it
// links neither gRPC nor the etcd client. Keys and values are base64 in
// the JSON, 64-bit numbers are decimal strings.

// Response limits: an answer larger than these is refused.
const (
	maxResponseBytes = 64 << 20
	maxEventBytes    = 16 << 20
	maxPEMBytes      = 1 << 20
)

// client is a connection to the etcd cluster's gateway.
type client struct {
	s    *Strategy
	http *http.Client

	mu    sync.Mutex
	token string // auth token when user is set
	ep    int    // index of the endpoint that answered last
}

// gwError is an error etcd answered with.
type gwError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Err     string `json:"error"`
}

func (e *gwError) Error() string { return e.Message }

func (s *Strategy) newClient() (*client, error) {
	tr := &http.Transport{
		Proxy:               nil, // etcd is dialled directly, as etcdctl does
		DialContext:         (&net.Dialer{Timeout: s.cfg.DialTimeout, KeepAlive: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: s.cfg.DialTimeout,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	if s.cfg.tlsEnabled() {
		tc, err := s.cfg.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd: TLS files (cacert %q, cert %q, key %q): %w", s.cfg.CACert, s.cfg.Cert, s.cfg.Key, err)
		}
		tr.TLSClientConfig = tc
	}
	return &client{s: s, http: &http.Client{Transport: tr}}, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipTLSVerify} //nolint:gosec // asked for by insecure_skip_tls_verify
	if c.CACert != "" {
		b, err := readPEM(c.CACert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CACert)
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" {
		cb, err := readPEM(c.Cert)
		if err != nil {
			return nil, err
		}
		kb, err := readPEM(c.Key)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(cb, kb)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func readPEM(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err == nil && len(b) > maxPEMBytes {
		err = fmt.Errorf("%s is larger than %d bytes", p, maxPEMBytes)
	}
	return b, err
}

func (c *client) close() { c.http.CloseIdleConnections() }

// open sends body to path and returns the answer's body, trying each
// endpoint in turn (from the one that answered last) on transport errors.
func (c *client) open(ctx context.Context, path string, body any, auth bool) (io.ReadCloser, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	eps := c.s.endpoints
	c.mu.Lock()
	first, token := c.ep, c.token
	c.mu.Unlock()
	var lastErr error
	for i := range eps {
		k := (first + i) % len(eps)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(eps[k], "/")+path, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if auth && token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.mu.Lock()
		c.ep = k
		c.mu.Unlock()
		if resp.StatusCode != http.StatusOK {
			defer resp.Body.Close()
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			e := &gwError{}
			if json.Unmarshal(raw, e) != nil || e.Message == "" {
				e = &gwError{Code: resp.StatusCode, Message: fmt.Sprintf("the server answered %s to %s: %.200q", resp.Status, path, raw)}
			}
			return nil, e
		}
		return resp.Body, nil
	}
	if ctx.Err() != nil && errors.Is(lastErr, ctx.Err()) {
		return nil, lastErr
	}
	return nil, fmt.Errorf("no endpoint answered: %w", lastErr)
}

// call sends one request and decodes the whole answer into out. With
// authentication on, it gets a token first and a new one when etcd no
// longer knows the one it has (after a restart).
func (c *client) call(ctx context.Context, path string, body, out any) error {
	for attempt := 0; ; attempt++ {
		if err := c.authenticate(ctx, attempt > 0); err != nil {
			return err
		}
		rc, err := c.open(ctx, path, body, true)
		var ge *gwError
		if errors.As(err, &ge) && attempt == 0 && c.s.cfg.Username != "" && strings.Contains(ge.Message, "invalid auth token") {
			continue
		}
		if err != nil {
			return err
		}
		err = decodeLimited(rc, maxResponseBytes, out)
		rc.Close()
		if err != nil {
			return fmt.Errorf("reading the answer to %s: %w", path, err)
		}
		return nil
	}
}

func decodeLimited(r io.Reader, limit int64, out any) error {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("larger than %d MiB", limit>>20)
		}
		return err
	}
	return nil
}

func (c *client) authenticate(ctx context.Context, renew bool) error {
	if c.s.cfg.Username == "" {
		return nil
	}
	c.mu.Lock()
	have := c.token != ""
	c.mu.Unlock()
	if have && !renew {
		return nil
	}
	rc, err := c.open(ctx, "/v3/auth/authenticate", map[string]string{"name": c.s.cfg.Username, "password": c.s.cfg.Password}, false)
	if err != nil {
		return err
	}
	defer rc.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := decodeLimited(rc, 64<<10, &out); err != nil || out.Token == "" {
		return fmt.Errorf("authenticating: no token in the answer (%v)", err)
	}
	c.mu.Lock()
	c.token = out.Token
	c.mu.Unlock()
	return nil
}

// int64s is a 64-bit number as the gateway writes it (a string).
type int64s int64

func (n *int64s) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("want a number, got %.40s", b)
	}
	*n = int64s(v)
	return nil
}

func (n int64s) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

type keyValue struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

type header struct {
	Revision int64s `json:"revision"`
}

// prefixEnd is the range end that makes a range of every key with prefix.
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// rangePrefix reads at most limit keys under prefix.
func (c *client) rangePrefix(ctx context.Context, prefix string, limit int) ([]keyValue, int64, error) {
	var out struct {
		Header header     `json:"header"`
		Kvs    []keyValue `json:"kvs"`
	}
	err := c.call(ctx, "/v3/kv/range", map[string]any{"key": []byte(prefix), "range_end": prefixEnd(prefix), "limit": int64s(limit)}, &out)
	return out.Kvs, int64(out.Header.Revision), err
}

func (c *client) grant(ctx context.Context, ttl int64) (int64, error) {
	var out struct {
		ID    int64s `json:"ID"`
		Error string `json:"error"`
	}
	if err := c.call(ctx, "/v3/lease/grant", map[string]any{"TTL": int64s(ttl)}, &out); err != nil {
		return 0, err
	}
	if out.ID == 0 {
		return 0, fmt.Errorf("no lease granted: %s", out.Error)
	}
	return int64(out.ID), nil
}

func (c *client) put(ctx context.Context, key, value string, lease int64) error {
	var out struct{}
	return c.call(ctx, "/v3/kv/put", map[string]any{"key": []byte(key), "value": []byte(value), "lease": int64s(lease)}, &out)
}

func (c *client) revoke(ctx context.Context, lease int64) error {
	var out struct{}
	return c.call(ctx, "/v3/lease/revoke", map[string]any{"ID": int64s(lease)}, &out)
}

// keepAlive renews the lease once and returns its remaining TTL; 0 means
// the lease is gone.
func (c *client) keepAlive(ctx context.Context, lease int64) (int64, error) {
	var out struct {
		Result struct {
			TTL int64s `json:"TTL"`
		} `json:"result"`
		Error *gwError `json:"error"`
	}
	if err := c.call(ctx, "/v3/lease/keepalive", map[string]any{"ID": int64s(lease)}, &out); err != nil {
		return 0, err
	}
	if out.Error != nil {
		return 0, out.Error
	}
	return int64(out.Result.TTL), nil
}

// watchEvent is one change in a watch answer.
type watchEvent struct {
	Type string   `json:"type"` // "PUT" (or absent) or "DELETE"
	Kv   keyValue `json:"kv"`
}

// watchResponse is one message of the watch stream.
type watchResponse struct {
	Result struct {
		Header          header       `json:"header"`
		Created         bool         `json:"created"`
		Canceled        bool         `json:"canceled"`
		CompactRevision int64s       `json:"compact_revision"`
		CancelReason    string       `json:"cancel_reason"`
		Events          []watchEvent `json:"events"`
	} `json:"result"`
	Error *gwError `json:"error"`
}

// errStream marks a watch that broke (etcd restarted, the connection
// was lost) rather than one etcd ended: it can be resumed.
var errStream = errors.New("the watch stream broke")

// watch streams the changes under prefix from revision *rev; each message
// with events goes to fn, and *rev follows the revisions seen. It returns
// when ctx ends (nil) or the stream fails; a broken stream or an
// unreachable etcd wraps errStream.
func (c *client) watch(ctx context.Context, prefix string, rev *int64, fn func([]watchEvent)) error {
	if err := c.authenticate(ctx, false); err != nil {
		return err
	}
	req := map[string]any{"create_request": map[string]any{"key": []byte(prefix), "range_end": prefixEnd(prefix), "start_revision": int64s(*rev)}}
	rc, err := c.open(ctx, "/v3/watch", req, true)
	if err != nil {
		var ge *gwError
		if !errors.As(err, &ge) {
			return fmt.Errorf("%w: %w", errStream, err)
		}
		return err
	}
	defer rc.Close()
	lr := &io.LimitedReader{R: bufio.NewReader(rc)}
	dec := json.NewDecoder(lr)
	for {
		lr.N = maxEventBytes + 1
		var m watchResponse
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if lr.N <= 0 {
				return fmt.Errorf("a watch message is larger than %d MiB", maxEventBytes>>20)
			}
			return fmt.Errorf("%w: %w", errStream, err)
		}
		switch {
		case m.Error != nil:
			return m.Error
		case m.Result.Canceled || m.Result.CompactRevision != 0:
			return fmt.Errorf("the watch was cancelled (compacted to revision %d) %s", m.Result.CompactRevision, m.Result.CancelReason)
		}
		if len(m.Result.Events) > 0 {
			fn(m.Result.Events)
		}
		if r := int64(m.Result.Header.Revision); r >= *rev {
			*rev = r + 1
		}
	}
}
