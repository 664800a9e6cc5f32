package httpapi_test

import (
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/httpapi"
)

// ExampleNewServer serves a node's endpoints with bounded timeouts, header
// size and connection counts.
func ExampleNewServer() {
	conn := &libcluster.ConnectorFuncs{SelfNode: "a@127.0.0.1"}
	srv := httpapi.NewServer(httpapi.Handler(httpapi.Source{Connector: conn}), httpapi.ServerConfig{MaxConnsPerHost: 16})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output: 200 ok
}
