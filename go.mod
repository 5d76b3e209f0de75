module github.com/netspec/netspec

go 1.26.0

require (
	github.com/leanovate/gopter v0.2.11
	golang.org/x/sys v0.50.0 // indirect
)
