// Package loopback tells whether a host name stays on this machine. The
// client, the emulator and the CLI all allow plain http only to such hosts,
// so they share one definition of it.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a URL's Hostname, without a port) is
// "localhost" or a loopback IP address. Names that merely resolve to
// loopback, such as 127.0.0.1.nip.io, are not: resolution can change.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
