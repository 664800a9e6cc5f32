package etf_test

import (
	"fmt"

	"github.com/libcluster-go/libcluster/erldist/etf"
)

// A Gossip heartbeat carries term_to_binary(#{node => Node}).
func ExampleDecode() {
	packet := []byte("\x83t\x00\x00\x00\x01w\x04nodew\x0ba@127.0.0.1")
	term, err := etf.Decode(packet)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, ok := term.(etf.Map)
	if !ok {
		fmt.Println("not a map")
		return
	}
	for _, p := range m {
		if p.Key == etf.Atom("node") {
			fmt.Println("heartbeat from", p.Value)
		}
	}
	// Output: heartbeat from a@127.0.0.1
}

func ExampleEncode() {
	b, err := etf.Encode(etf.Map{{Key: etf.Atom("node"), Value: etf.Atom("a@127.0.0.1")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", b)
	// Output: 83 74 00 00 00 01 77 04 6e 6f 64 65 77 0b 61 40 31 32 37 2e 30 2e 30 2e 31
}

// Distribution packets carry a control term and a message term back to back.
func ExampleDecodeNext() {
	ctrl, _ := etf.Encode(etf.Tuple{6, etf.Pid{Node: "a@h", ID: 1}, etf.Atom(""), etf.Atom("net_kernel")})
	msg, _ := etf.Encode(etf.Binary("hello"))
	rest := append(ctrl, msg...)
	for len(rest) > 0 {
		var term etf.Term
		var err error
		term, rest, err = etf.DecodeNext(rest, etf.Limits{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%T\n", term)
	}
	// Output:
	// etf.Tuple
	// etf.Binary
}

func ExampleEqual() {
	fmt.Println(etf.Equal(etf.String("ab"), etf.List{97, 98}))
	fmt.Println(etf.Equal(1, 1.0))
	// Output:
	// true
	// false
}
