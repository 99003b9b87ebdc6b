package socketio_test

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"time"

	"github.com/socketfleet/socketfleet/runtime/socketio"
)

func ExampleNewServer() {
	srv := socketio.NewServer(socketio.Options{
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute, SkipMiddlewares: true},
	})
	chat := srv.Of("/chat")
	chat.Use(func(ctx context.Context, s *socketio.Socket) error {
		var auth struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err != nil || auth.Name == "" {
			return &socketio.ConnectError{Message: "name required"}
		}
		s.SetData(auth.Name)
		return nil
	})
	chat.OnConnection(func(s *socketio.Socket) {
		s.Join("lobby")
		s.On("say", func(ctx context.Context, ev *socketio.Event) {
			var text string
			if err := ev.Bind(&text); err != nil {
				return
			}
			_ = s.To("lobby").Emit("said", s.Data(), text)
			_ = ev.Ack("delivered")
		})
		s.OnDisconnect(func(reason string) { log.Printf("%s left: %s", s.ID(), reason) })
	})
	http.Handle("/socket.io/", srv)
}

func ExampleBroadcastOperator_EmitWithAck() {
	srv := socketio.NewServer(socketio.Options{})
	answers, err := srv.Of("/").To("voters").Timeout(5*time.Second).EmitWithAck(context.Background(), "vote", "yes or no?")
	if err != nil {
		log.Printf("%d answers before the timeout: %v", len(answers), err)
	}
	_ = srv.Close(context.Background())
}
