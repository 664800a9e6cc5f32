package config

// The strategies a config file can name. Each registers itself from init.
import (
	_ "github.com/libcluster-go/libcluster/strategy/epmd"
)
