module github.com/geminihooks/geminihooks/bench

go 1.26.0

require (
	github.com/geminihooks/geminihooks v0.0.0-00010101000000-000000000000
	github.com/standard-webhooks/standard-webhooks/libraries v0.0.1
)

require (
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	golang.org/x/sync v0.25.0 // indirect
)

replace github.com/geminihooks/geminihooks => ../
