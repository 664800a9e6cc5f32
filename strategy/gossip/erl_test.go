package gossip

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// runErl evaluates expr in a fresh erl (no distribution) and returns its
// trimmed standard output.
func runErl(t *testing.T, expr string) string {
	t.Helper()
	return strings.TrimSpace(erltest.RunErl(t, "apt-get install erlang-base erlang-crypto", "-noshell", "-eval", expr+", halt()."))
}

// TestErlangDecodesOurHeartbeats hands the Go node's datagrams, plain and
// CBC-encrypted, to a real BEAM, which decodes them the way libcluster's
// Gossip does (decrypt, strip PKCS#7, match the prefix, binary_to_term).
func TestErlangDecodesOurHeartbeats(t *testing.T) {
	const node = "go_node-1@10.1.2.3"
	plain, err := EncodeHeartbeat(node)
	if err != nil {
		t.Fatal(err)
	}
	cbc, err := SealCBC([]byte("somepassword"), plain)
	if err != nil {
		t.Fatal(err)
	}
	expr := `Dec = fun(H) -> binary:decode_hex(list_to_binary(H)) end,
	Name = fun(<<"heartbeat::", T/binary>>) -> #{node := N} = binary_to_term(T), atom_to_list(N) end,
	Plain = Dec("` + hex.EncodeToString(plain) + `"),
	<<IV:16/binary, CT/binary>> = Dec("` + hex.EncodeToString(cbc) + `"),
	Key = crypto:hash(sha256, <<"somepassword">>),
	P = crypto:crypto_one_time(aes_256_cbc, Key, IV, CT, false),
	Pad = binary:last(P),
	Unpadded = binary:part(P, 0, byte_size(P) - Pad),
	io:format("plain=~s~ncbc=~s~n", [Name(Plain), Name(Unpadded)])`
	out := runErl(t, expr)
	want := "plain=" + node + "\ncbc=" + node
	if out != want {
		t.Fatalf("erl printed %q, want %q", out, want)
	}
}

// TestWeDecodeErlangHeartbeats decodes what a real BEAM builds: the
// default encoding of this OTP and the UTF-8 atom form (minor_version 2,
// OTP 26+ default), plain and encrypted by Erlang's crypto.
func TestWeDecodeErlangHeartbeats(t *testing.T) {
	const node = "e@127.0.0.1"
	expr := `T0 = term_to_binary(#{node => 'e@127.0.0.1'}),
	T2 = term_to_binary(#{node => 'e@127.0.0.1'}, [{minor_version, 2}]),
	Key = crypto:hash(sha256, <<"pw">>),
	IV = crypto:strong_rand_bytes(16),
	Msg = <<"heartbeat::", T2/binary>>,
	PadN = 16 - (byte_size(Msg) rem 16),
	Enc = crypto:crypto_one_time(aes_256_cbc, Key, IV, <<Msg/binary, (binary:copy(<<PadN>>, PadN))/binary>>, true),
	io:format("~s~n~s~n~s~n", [binary:encode_hex(<<"heartbeat::", T0/binary>>), binary:encode_hex(Msg), binary:encode_hex(<<IV/binary, Enc/binary>>)])`
	lines := strings.Split(runErl(t, expr), "\n")
	if len(lines) != 3 {
		t.Fatalf("erl output %q", lines)
	}
	ours, _ := EncodeHeartbeat(node)
	for i, l := range lines {
		pkt, err := hex.DecodeString(l)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if pkt, err = OpenCBC([]byte("pw"), pkt); err != nil {
				t.Fatalf("open Erlang CBC packet: %v", err)
			}
		}
		n, err := DecodeHeartbeat(pkt)
		if err != nil || n != libcluster.Node(node) {
			t.Fatalf("packet %d %x: got %q %v", i, pkt, n, err)
		}
		if i == 0 && runErl(t, `io:format("~s", [erlang:system_info(otp_release)])`) < "26" && hex.EncodeToString(ours) != strings.ToLower(l) {
			t.Fatalf("this OTP's term_to_binary %s differs from our encoding %x", l, ours)
		}
	}
}
