module github.com/l2gw/l2gw

go 1.26

require github.com/contiv/libOpenflow v0.0.0-20210609050114-d967b14cc688

require (
	github.com/contiv/ofnet v0.0.0-20210318032909-171b6795a2da // indirect
	github.com/go-logr/logr v1.2.2 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/gorilla/mux v1.8.1 // indirect
	github.com/ovn-org/libovsdb v0.7.0 // indirect
	github.com/sirupsen/logrus v1.9.0 // indirect
	github.com/stretchr/testify v1.10.0 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.29.0 // indirect
)

replace github.com/contiv/ofnet => github.com/wenyingd/ofnet v0.0.0-20210318032909-171b6795a2da
