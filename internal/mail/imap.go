package mail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAP watches one mailbox for the probe: login, SELECT, then SEARCH by
// the probe header, waiting in IDLE between searches when the server
// offers it, else polling.
type IMAP struct {
	Addr     string
	TLS      TLSMode
	TLSOpts  TLSOptions
	Username string
	Password string
	Mailbox  string // default INBOX
	// Poll, when set, searches every Poll instead of waiting in IDLE.
	// Dovecot batches IDLE notifications for 500 ms (NOTIFY_DELAY_MSECS
	// in its mailbox-watch.c), so IDLE reports an arrival up to half a
	// second late; polling every 50ms measures closer.
	Poll time.Duration
	// PollInterval is the wait between searches on a server without IDLE
	// (default 250ms), and IdleRecheck the longest wait in IDLE before
	// searching anyway (default 5s), for servers whose IDLE notices late.
	PollInterval time.Duration
	IdleRecheck  time.Duration
}

var _ mailboxOpener = (*IMAP)(nil)

// Describe names the mailbox for reports ("imap 127.0.0.1:993 implicit INBOX").
func (o *IMAP) Describe() string {
	return fmt.Sprintf("imap %s %s %s", o.Addr, o.TLS, o.mailbox())
}

func (o *IMAP) mailbox() string {
	if o.Mailbox == "" {
		return "INBOX"
	}
	return o.Mailbox
}

// Arrival is the probe as first seen in the mailbox.
type Arrival struct {
	UID    imap.UID
	SeenAt time.Time
	// Received holds the message's Received header values, newest first.
	Received []string
}

// mailbox is a logged-in session with the probe's mailbox selected.
type mailbox interface {
	// Await returns when a message with token in the probe header is in
	// the mailbox, or with ctx's error.
	Await(ctx context.Context, token string) (Arrival, error)
	// Delete flags the message \Deleted and expunges it.
	Delete(ctx context.Context, a Arrival) error
	// Sweep deletes probe messages whose token says they were sent
	// before the given time, and returns how many.
	Sweep(ctx context.Context, before time.Time) (int, error)
	Close() error
	// Idle reports whether the session waits in IDLE (else it polls).
	Idle() bool
}

type mailboxOpener interface {
	Open(ctx context.Context) (mailbox, error)
	Describe() string
}

type imapSession struct {
	o       *IMAP
	c       *imapclient.Client
	changed chan struct{} // a new EXISTS arrived
	idle    bool
}

// Open connects, logs in and selects the mailbox. A refused login wraps
// ErrAuthFailed; anything unreachable ErrUnavailable.
func (o *IMAP) Open(ctx context.Context) (mailbox, error) {
	tlsCfg, err := o.TLSOpts.config(o.Addr)
	if err != nil {
		return nil, err
	}
	conn, err := dialMail(ctx, o.Addr, "", o.TLS, tlsCfg)
	if err != nil {
		return nil, err
	}
	// The client manages its own read deadlines; ctx bounds it by closing.
	_ = conn.SetDeadline(time.Time{})
	s := &imapSession{o: o, changed: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		TLSConfig: tlsCfg,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case s.changed <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if o.TLS == TLSStartTLS {
		s.c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			conn.Close()
			return nil, o.classify(ctx, "STARTTLS", err)
		}
	} else {
		s.c = imapclient.New(conn, opts)
		if err := s.c.WaitGreeting(); err != nil {
			s.c.Close()
			return nil, o.classify(ctx, "greeting", err)
		}
	}
	if err := s.c.Login(o.Username, o.Password).Wait(); err != nil {
		s.c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			return nil, fmt.Errorf("%w: imap %s: LOGIN %s: %s", ErrAuthFailed, o.Addr, o.Username, ie.Text)
		}
		return nil, o.classify(ctx, "LOGIN", err)
	}
	if _, err := s.c.Select(o.mailbox(), &imap.SelectOptions{}).Wait(); err != nil {
		s.c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			return nil, fmt.Errorf("%w: imap %s: SELECT %s: %s", ErrRejected, o.Addr, o.mailbox(), ie.Text)
		}
		return nil, o.classify(ctx, "SELECT", err)
	}
	caps := s.c.Caps()
	s.idle = (caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2)) && o.Poll <= 0
	return s, nil
}

func (o *IMAP) classify(ctx context.Context, step string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type != imap.StatusResponseTypeBye {
		return fmt.Errorf("%w: imap %s: %s: %s", ErrRejected, o.Addr, step, ie.Text)
	}
	return unavailableErr(ctx, fmt.Errorf("imap %s: %s: %w", o.Addr, step, err))
}

func (s *imapSession) Idle() bool { return s.idle }

func (s *imapSession) Close() error {
	_ = s.c.Logout().Wait()
	return s.c.Close()
}

// Await searches, then waits for the mailbox to change (IDLE) or for the
// poll interval, and searches again, until the message is there.
func (s *imapSession) Await(ctx context.Context, token string) (Arrival, error) {
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: ProbeHeader, Value: token}}}
	for {
		data, err := s.c.UIDSearch(crit, nil).Wait()
		if err != nil {
			return Arrival{}, s.o.classify(ctx, "UID SEARCH", err)
		}
		if uids := data.AllUIDs(); len(uids) > 0 {
			a := Arrival{UID: uids[0], SeenAt: time.Now()}
			a.Received, err = s.received(a.UID)
			if err != nil {
				return a, s.o.classify(ctx, "UID FETCH", err)
			}
			return a, nil
		}
		if err := s.wait(ctx); err != nil {
			return Arrival{}, s.o.classify(ctx, "IDLE", err)
		}
	}
}

// wait blocks until the mailbox may have changed.
func (s *imapSession) wait(ctx context.Context) error {
	if !s.idle {
		t := time.NewTimer(durationOr(s.o.Poll, durationOr(s.o.PollInterval, 250*time.Millisecond)))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// Dovecot looks for new Maildir files on NOOP, not on SEARCH: a
		// SEARCH alone saw a delivered message only about 4.7 s later.
		return s.c.Noop().Wait()
	}
	idle, err := s.c.Idle()
	if err != nil {
		return err
	}
	t := time.NewTimer(durationOr(s.o.IdleRecheck, 5*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.changed:
	case <-t.C:
	}
	if err := idle.Close(); err != nil {
		return err
	}
	if err := idle.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// received fetches the message's Received headers without setting \Seen.
func (s *imapSession) received(uid imap.UID) ([]string, error) {
	sec := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Received"}, Peek: true}
	msgs, err := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	return receivedHeaders(msgs[0].FindBodySection(sec)), nil
}

// receivedHeaders reads the Received values from a header block, in order.
func receivedHeaders(raw []byte) []string {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(bytes.TrimRight(raw, "\r\n"), "\r\n\r\n"...))))
	h, _ := r.ReadMIMEHeader() // a malformed tail still yields what came before it
	return h.Values("Received")
}

// Delete flags the probe \Deleted and expunges it.
func (s *imapSession) Delete(ctx context.Context, a Arrival) error {
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	return s.expunge(ctx, imap.UIDSetNum(a.UID))
}

// expunge flags set \Deleted and expunges: UID EXPUNGE when the server
// has UIDPLUS, which removes only these messages. A plain EXPUNGE removes
// every \Deleted message, so without UIDPLUS it runs only when no other
// message is flagged \Deleted: someone else's deletion is not ours to
// finish.
func (s *imapSession) expunge(ctx context.Context, set imap.UIDSet) error {
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := s.c.Store(set, store, nil).Close(); err != nil {
		return s.o.classify(ctx, "UID STORE \\Deleted", err)
	}
	caps := s.c.Caps()
	if caps.Has(imap.CapUIDPlus) || caps.Has(imap.CapIMAP4rev2) {
		if _, err := s.c.UIDExpunge(set).Collect(); err != nil {
			return s.o.classify(ctx, "UID EXPUNGE", err)
		}
		return nil
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return s.o.classify(ctx, "UID SEARCH DELETED", err)
	}
	for _, uid := range data.AllUIDs() {
		if !set.Contains(uid) {
			return fmt.Errorf("imap %s: the server has no UIDPLUS and other messages are flagged \\Deleted: not expunging them with ours (left flagged \\Deleted)", s.o.Addr)
		}
	}
	if _, err := s.c.Expunge().Collect(); err != nil {
		return s.o.classify(ctx, "EXPUNGE", err)
	}
	return nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Sweep finds every message carrying the probe header and deletes those
// whose token ("<unix seconds>-<hex>", as NewMessage makes it) was made
// before the given time: probes of earlier runs that arrived after their
// deadline. A message whose header does not parse is not ours to delete.
func (s *imapSession) Sweep(ctx context.Context, before time.Time) (int, error) {
	stop := context.AfterFunc(ctx, func() { s.c.Close() })
	defer stop()
	crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: ProbeHeader, Value: ""}}}
	data, err := s.c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return 0, s.o.classify(ctx, "UID SEARCH", err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return 0, nil
	}
	sec := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{ProbeHeader}, Peek: true}
	msgs, err := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		return 0, s.o.classify(ctx, "UID FETCH", err)
	}
	var stale imap.UIDSet
	n := 0
	for _, m := range msgs {
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(bytes.TrimRight(m.FindBodySection(sec), "\r\n"), "\r\n\r\n"...))))
		h, _ := r.ReadMIMEHeader()
		if sent, ok := tokenTime(h.Get(ProbeHeader)); ok && sent.Before(before) {
			stale.AddNum(m.UID)
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := s.expunge(ctx, stale); err != nil {
		return 0, err
	}
	return n, nil
}
