package erldist_test

import (
	"context"
	"fmt"
	"log"

	"github.com/libcluster-go/libcluster/erldist"
)

// A node that speaks TLS distribution with erl nodes started with
// -proto_dist inet_tls -ssl_dist_optfile, from the same files.
func ExampleLoadTLS() {
	tc, err := erldist.LoadTLS(erldist.TLSOptions{
		CertFile:   "/etc/app/node.pem",
		KeyFile:    "/etc/app/node-key.pem",
		CACertFile: "/etc/app/ca.pem",
		// Verify: erldist.VerifyPeer and fail_if_no_peer_cert true are the
		// defaults.
	})
	if err != nil {
		// Which option is wrong, and why.
		fmt.Println(err)
		return
	}
	node, err := erldist.Start(context.Background(), erldist.Config{Name: "app@10.0.0.5", Cookie: "secret", TLS: tc})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	// Output: dist: TLS certfile: cannot open: open /etc/app/node.pem: no such file or directory
}
