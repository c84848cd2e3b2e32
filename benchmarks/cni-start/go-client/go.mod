module kontena-ipam-cni
go 1.19
