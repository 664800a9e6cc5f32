package epmd

import (
	"context"
	"log/slog"
)

// Keeper keeps one name registered with the local host's EPMD, whichever
// process serves it: it registers with a running EPMD, or, when none
// answers, serves EPMD itself in-process. When the registration is lost
// it immediately tries again (serve if the port is free, else register with
// whoever took it).
type Keeper struct {
	// NodeInfo is the node to keep registered.
	NodeInfo
	// Port is the EPMD port; 0 means Port(). (It shadows NodeInfo.Port,
	// which is the node's distribution port.)
	Port int
	// ListenAddr is where the in-process server listens; "" means ":<Port>".
	ListenAddr string
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Run keeps the registration until ctx ends, calling ready with the creation
// after every (re-)registration. On return it has unregistered and closed any
// server it ran. It returns nil when ctx ends, or an error that makes further
// attempts pointless (an invalid NodeInfo).
func (k *Keeper) Run(ctx context.Context, ready func(creation uint32)) error {
	<-ctx.Done()
	return errNotYet
}
