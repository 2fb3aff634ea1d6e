// Package loopback tells whether a host name stays on this machine. The
// client, the emulator and the CLI all allow plain http only to such hosts,
// so they share one definition of it.
package loopback
