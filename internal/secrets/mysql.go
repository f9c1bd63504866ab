package secrets

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlLogin proves that user can log in to the MySQL/MariaDB server at
// addr with password: a connection and a ping, nothing else.
func mysqlLogin(ctx context.Context, addr, user string, password Secret, timeout time.Duration) error {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.User = user
	cfg.Passwd = password.Reveal()
	cfg.Timeout = timeout
	cfg.ReadTimeout = timeout
	cfg.WriteTimeout = timeout
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("mysql %s: %w", addr, err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1045 {
			return fmt.Errorf("mysql %s refused user %q with the new password (error 1045, access denied)", addr, user)
		}
		return fmt.Errorf("mysql %s: logging in as %q: %w", addr, user, err)
	}
	return nil
}

// mysqlAddr is host:port from a connection string's Server and Port (the
// first of several servers; port 3306 unless given).
func mysqlAddr(pairs []connPair) (string, error) {
	server, ok := connGet(pairs, connServerKeys)
	if !ok || strings.TrimSpace(server) == "" {
		return "", errors.New("the connection string names no server")
	}
	server = strings.TrimSpace(strings.Split(server, ",")[0])
	port := "3306"
	if p, ok := connGet(pairs, connPortKeys); ok && p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", fmt.Errorf("the connection string's port %q is not a port", clip(p, 10))
		}
		port = p
	}
	if h, p, err := net.SplitHostPort(server); err == nil {
		return net.JoinHostPort(h, p), nil
	}
	return net.JoinHostPort(server, port), nil
}
