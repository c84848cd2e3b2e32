module github.com/kontena/kontena-ipam/packages/cni/native

go 1.19
