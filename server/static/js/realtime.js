/*
 * Motcua realtime client: the snapshot + seq protocol over Socket.IO.
 *
 *   const rt = MotcuaRealtime.connect("/display", {token: "..."}, {
 *     snapshot(state) { ... },        // full state; replaces whatever was shown
 *     event(type, data, seq) { ... }, // one change, in order
 *     status(online) { ... },         // connection state, for a discreet "reconnecting" mark
 *   });
 *
 * Events arrive numbered per site. An event at or below the last seen number is a duplicate and
 * is dropped; a jump means something was missed, so the client asks for a fresh snapshot
 * ("resync") and ignores events until it arrives. Every reconnect also resyncs: the server
 * sends a snapshot on connect.
 */
(function (global) {
  "use strict";

  function connect(namespace, auth, handlers, options) {
    var io = global.io;
    var lastSeq = null;
    var waitingForSnapshot = true;
    // sparse: the server sends this audience only the events that concern it (/track), so a
    // jump in seq is normal; stale events are still dropped.
    var sparse = !!(options && options.sparse);
    var opts = Object.assign({
      auth: auth,
      transports: ["websocket", "polling"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      timeout: 10000,
    }, options || {});
    delete opts.sparse;
    var socket = io(namespace, opts);

    function status(online) {
      if (handlers.status) handlers.status(online);
    }

    function resync() {
      waitingForSnapshot = true;
      socket.emit("resync");
    }

    socket.on("connect", function () { status(true); });
    socket.on("disconnect", function (reason) {
      status(false); waitingForSnapshot = true;
      // The server closed us (e.g. this device was revoked): ask again once in a while; a
      // revoked token is then refused at connect (handlers.refused).
      if (reason === "io server disconnect") setTimeout(function () { socket.connect(); }, 2000);
    });
    // This device was revoked by an administrator: stop and say so.
    socket.on("revoked", function () {
      socket.disconnect();
      if (handlers.refused) handlers.refused("revoked");
    });
    socket.on("connect_error", function (err) {
      status(false);
      if (handlers.refused && err && err.message && err.message !== "xhr poll error" &&
          err.message !== "websocket error" && err.message !== "timeout") {
        handlers.refused(err.message);
      }
    });
    socket.on("snapshot", function (state) {
      lastSeq = state.seq;
      waitingForSnapshot = false;
      handlers.snapshot(state);
    });
    socket.on("event", function (msg) {
      if (waitingForSnapshot || lastSeq === null) return;
      if (msg.seq <= lastSeq) return;          // duplicate or already in the snapshot
      if (!sparse && msg.seq !== lastSeq + 1) { // a gap: something was missed
        resync();
        return;
      }
      lastSeq = msg.seq;
      handlers.event(msg.type, msg.data, msg.seq);
    });

    return {
      socket: socket,
      resync: resync,
      lastSeq: function () { return lastSeq; },
      close: function () { socket.close(); },
    };
  }

  global.MotcuaRealtime = { connect: connect };
})(window);
