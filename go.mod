module github.com/netspec/netspec

go 1.26
