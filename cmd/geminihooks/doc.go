// Command geminihooks is the command-line face of the geminihooks SDK: it
// runs an offline end-to-end demo, receives webhooks for local development,
// sends signed sample events, explains why a captured delivery does or does
// not verify, manages registered webhooks, runs the local emulator and makes
// it run jobs, and prints its version and shell completion scripts.
//
// Every command uses only the SDK's public packages, so what the CLI can do
// a program can do too. Run `geminihooks help` or `geminihooks CMD --help`.
//
//	go run ./cmd/geminihooks demo
//	geminihooks listen --secret "$GEMINI_WEBHOOK_SECRET"
//	geminihooks verify --secret whsec_... capture.http
package main
