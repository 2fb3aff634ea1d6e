// Command apicount counts the exported identifiers of the module's public
// packages: the size of the API a user can reach. It counts every exported
// top-level const, var, type and func, and every exported method of an
// exported type; struct fields and interface methods are not counted (they
// come with their type). Packages under internal/, commands and test files
// are left out.
//
// Run it from the repository root:
//
//	go run ./internal/apicount        # a line per package, then the total
//	go run ./internal/apicount -v     # and every name
package main
