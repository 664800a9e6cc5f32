module github.com/libcluster-go/libcluster

go 1.26
