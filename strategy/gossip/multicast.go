package gossip

import (
	"fmt"
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// setupMulticast sets the outgoing interface, hop limit and loopback, and
// joins the group on multicast_if (or on the interface the kernel picks).
func setupMulticast(conn *net.UDPConn, c settings) error {
	var ifi *net.Interface
	if c.mcIf != "" {
		var err error
		if ifi, err = findInterface(c.mcIf); err != nil {
			return err
		}
	}
	group := &net.UDPAddr{IP: c.group.AsSlice()}
	fail := func(what string, err error) error {
		where := "the default interface"
		if ifi != nil {
			where = "interface " + ifi.Name
		}
		return fmt.Errorf("gossip: %s for group %s on %s: %w; check multicast_if and that the interface is up and multicast capable", what, c.group, where, err)
	}
	// ipv4 and ipv6 offer the same calls but for the TTL (hop limit).
	var p interface {
		SetMulticastInterface(*net.Interface) error
		SetMulticastLoopback(bool) error
		JoinGroup(*net.Interface, net.Addr) error
	}
	var setTTL func(int) error
	if c.group.Is4() {
		p4 := ipv4.NewPacketConn(conn)
		p, setTTL = p4, p4.SetMulticastTTL
	} else {
		p6 := ipv6.NewPacketConn(conn)
		p, setTTL = p6, p6.SetMulticastHopLimit
	}
	if ifi != nil {
		if err := p.SetMulticastInterface(ifi); err != nil {
			return fail("setting the multicast interface", err)
		}
	}
	if err := setTTL(c.ttl); err != nil {
		return fail("setting multicast_ttl", err)
	}
	if err := p.SetMulticastLoopback(true); err != nil {
		return fail("enabling multicast loopback", err)
	}
	if err := p.JoinGroup(ifi, group); err != nil {
		return fail("joining", err)
	}
	return nil
}
