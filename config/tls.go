package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/strategy"
)

// tlsKeys are the keys of node.tls: the options of Erlang's
// -ssl_dist_optfile that a node needs, under the same names.
var tlsKeys = []string{"certfile", "keyfile", "cacertfile", "verify", "fail_if_no_peer_cert"}

// tls parses the node.tls block into the options of erldist.LoadTLS, and
// loads them once so that a missing or wrong file is reported with its
// line before anything starts.
func (p *parser) tls(e entry) *erldist.TLSOptions {
	const path = "node.tls"
	nerr := len(p.errs.Problems)
	_, m := p.mapping(e.val, path, tlsKeys)
	if len(p.errs.Problems) > nerr {
		return nil
	}
	o := &erldist.TLSOptions{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"certfile", &o.CertFile}, {"keyfile", &o.KeyFile}, {"cacertfile", &o.CACertFile}} {
		key, dst := f.key, f.dst
		if v, ok := m[key]; ok {
			if *dst = p.str(v, path+"."+key); *dst == "" {
				p.fail(v.val, path+"."+key, "empty; name a PEM file, or remove the key")
			}
		}
	}
	if v, ok := m["verify"]; ok {
		s, ok := p.scalar(v.val, path+".verify")
		allowed := []string{erldist.VerifyPeer, erldist.VerifyNone}
		switch {
		case !ok:
		case contains(allowed, s):
			o.Verify = s
		default:
			msg := fmt.Sprintf("unknown value %q", s)
			if n := strategy.Nearest(s, allowed); n != "" {
				msg += fmt.Sprintf("; did you mean %q?", n)
			}
			p.fail(v.val, path+".verify", "%s (allowed: %s)", msg, strings.Join(allowed, ", "))
		}
	}
	if v, ok := m["fail_if_no_peer_cert"]; ok {
		if b, ok := p.boolean(v, path+".fail_if_no_peer_cert"); ok {
			o.AllowNoPeerCert = !b
		}
	}
	if len(p.errs.Problems) > nerr {
		return nil
	}
	if _, err := erldist.LoadTLS(*o); err != nil {
		var oe *erldist.TLSOptionError
		if !errors.As(err, &oe) {
			p.fail(e.key, path, "%v", err)
			return nil
		}
		at := e.key
		if v, ok := m[oe.Option]; ok {
			at = v.val
		}
		p.fail(at, path+"."+oe.Option, "%s", oe.Msg)
		return nil
	}
	return o
}
