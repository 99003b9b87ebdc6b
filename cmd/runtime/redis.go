package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/socketfleet/socketfleet/runtime/app"
	"github.com/socketfleet/socketfleet/runtime/config"
	"github.com/socketfleet/socketfleet/runtime/redisadapter"
	"github.com/socketfleet/socketfleet/runtime/socketio"
)

// redisAdapter builds the Redis adapter (runtime/redisadapter) from the
// redis block of the configuration (notes/runtime-config.md): the classic,
// sharded or streams adapter; standalone
// (url or first address), sentinel (addresses + sentinelMaster) or cluster
// (seed addresses); password from passwordFile (also used for the
// Sentinels); TLS from a rediss:// URL or tls.*. An unreachable Redis does
// not stop the start, nor make the process unready: it serves its own
// clients, and the adapter health monitor (runtime/app) reports the link
// down until Redis answers. Every PUBLISH/SPUBLISH outcome is reported to
// that monitor through a go-redis hook.
func redisAdapter(_ context.Context, cfg config.Redis, logger *slog.Logger) (*app.ClusterAdapter, error) {
	opts, err := redisOptions(cfg)
	if err != nil {
		return nil, err
	}
	client := redis.NewUniversalClient(opts)
	publishes := &publishHook{}
	client.AddHook(publishes)
	log := logger.With("component", "redisadapter", "adapter", cfg.Adapter)
	var cluster interface {
		Adapter(*socketio.Namespace) socketio.Adapter
		Ping(context.Context) error
		DecodeErrors() uint64
		Outbox() redisadapter.OutboxStats
		Close() error
	}
	outbox := redisadapter.OutboxOptions{MaxMessages: cfg.Outbox.MaxMessages, MaxAge: cfg.Outbox.MaxAge.D()}
	if outbox.MaxMessages == 0 {
		outbox.MaxMessages = -1 // disabled
	}
	switch cfg.Adapter {
	case "sharded":
		cluster = redisadapter.NewSharded(client, redisadapter.ShardedOptions{ChannelPrefix: cfg.KeyPrefix, Logger: log, Outbox: outbox})
	case "streams":
		cluster = redisadapter.NewStreams(client, streamsOptions(cfg, log, outbox))
	default:
		cluster = redisadapter.New(client, redisadapter.Options{Key: cfg.KeyPrefix, Logger: log, Outbox: outbox})
	}
	return &app.ClusterAdapter{
		Name:             "redis",
		Factory:          cluster.Adapter,
		Ping:             cluster.Ping,
		ObservePublishes: publishes.observe,
		DecodeErrors:     cluster.DecodeErrors,
		Outbox: func() app.OutboxStats {
			o := cluster.Outbox()
			return app.OutboxStats{Waiting: o.Waiting, Forwarded: o.Forwarded, Dropped: o.Dropped}
		},
		Close: func(context.Context) error {
			err := cluster.Close()
			if cerr := client.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}, nil
}

// publishHook is a go-redis hook that reports the outcome of every PUBLISH
// SPUBLISH and XADD (the broadcasts and requests sent to the other processes) to
// the function registered with observe.
type publishHook struct {
	record atomic.Pointer[func(error)]
}

// observe registers record (app.ClusterAdapter.ObservePublishes).
func (h *publishHook) observe(record func(error)) { h.record.Store(&record) }

// DialHook passes dials through.
func (h *publishHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook reports the outcome of publish commands.
func (h *publishHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.report(cmd, err)
		return err
	}
}

// ProcessPipelineHook reports the outcome of the publish commands of a
// pipeline (the Pub/Sub adapters publish in pipelines).
func (h *publishHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.report(cmd, cmd.Err())
		}
		return err
	}
}

// report passes the outcome of a publish command to the registered function.
func (h *publishHook) report(cmd redis.Cmder, err error) {
	if name := cmd.Name(); name == "publish" || name == "spublish" || name == "xadd" {
		if record := h.record.Load(); record != nil {
			(*record)(err)
		}
	}
}

// streamsOptions maps the redis block to the streams adapter's options
// (redis.keyPrefix is its channel prefix).
func streamsOptions(cfg config.Redis, log *slog.Logger, outbox redisadapter.OutboxOptions) redisadapter.StreamsOptions {
	s := cfg.Streams
	return redisadapter.StreamsOptions{
		StreamName:       s.StreamName,
		StreamCount:      s.StreamCount,
		ChannelPrefix:    cfg.KeyPrefix,
		UseShardedPubSub: s.UseShardedPubSub,
		MaxLen:           int64(s.MaxLen),
		ReadCount:        int64(s.ReadCount),
		BlockTime:        s.BlockTime.D(),
		SessionKeyPrefix: s.SessionKeyPrefix,
		OnlyPlaintext:    s.OnlyPlaintext,
		Logger:           log,
		Outbox:           outbox,
	}
}

// redisOptions maps the redis block to go-redis options.
func redisOptions(cfg config.Redis) (*redis.UniversalOptions, error) {
	// ContextTimeoutEnabled: the adapters bound each operation with a context
	// (a broadcast waits at most 2 s for Redis before it waits in the outbox);
	// without it go-redis would wait its own read timeout on every retry.
	opts := &redis.UniversalOptions{DB: cfg.Database, Username: cfg.Username, ContextTimeoutEnabled: true}
	var urlTLS *tls.Config
	switch cfg.Mode {
	case "standalone":
		if cfg.URL != "" {
			u, err := redis.ParseURL(cfg.URL)
			if err != nil {
				return nil, fmt.Errorf("config: redis.url: %w", err)
			}
			opts.Addrs, opts.DB, urlTLS = []string{u.Addr}, u.DB, u.TLSConfig
			if u.Username != "" {
				opts.Username = u.Username
			}
		} else {
			// Several addresses would make a cluster client: standalone
			// uses the first.
			opts.Addrs = cfg.Addresses[:1]
		}
	case "sentinel":
		opts.Addrs, opts.MasterName = cfg.Addresses, cfg.SentinelMaster
	case "cluster":
		opts.Addrs, opts.IsClusterMode = cfg.Addresses, true
	default:
		return nil, fmt.Errorf("config: redis.mode: unknown mode %q", cfg.Mode)
	}
	if cfg.PasswordFile != "" {
		data, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("config: redis.passwordFile: %w", err)
		}
		opts.Password = strings.TrimRight(string(data), "\r\n")
		if cfg.Mode == "sentinel" {
			opts.SentinelPassword = opts.Password
			opts.SentinelUsername = opts.Username
		}
	}
	if cfg.TLS.Enabled || urlTLS != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLS.ServerName, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify}
		if tc.ServerName == "" && urlTLS != nil {
			tc.ServerName = urlTLS.ServerName
		}
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("config: redis.tls.caFile: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("config: redis.tls.caFile: no certificate in %s", cfg.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}
