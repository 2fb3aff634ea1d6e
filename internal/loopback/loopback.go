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
