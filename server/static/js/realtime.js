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
 * is dropped. A jump usually means two commits at the site were published in the other order
 * (two server threads or nodes racing to Redis), so events past a gap are held for up to
 * REORDER_MS waiting for the missing ones; only if they do not come was something really missed,
 * and the client asks for a fresh snapshot ("resync") and ignores events until it arrives.
 * Every reconnect also resyncs: the server sends a snapshot on connect.
 */
(function (global) {
  "use strict";

  function connect(namespace, auth, handlers, options) {
    var io = global.io;
    var lastSeq = null;
    var snapshotSeq = null;
    var waitingForSnapshot = true;
    var REORDER_MS = (options && options.reorderMs) || 1000;
    var held = {};          // seq -> event that arrived before an earlier one
    var heldCount = 0;
    var gapTimer = null;
    // sparse: the server sends this audience only the events that concern it (/track), so a
    // jump in seq is normal. An event can still be overtaken by a later one (two commits racing
    // to Redis): it is delivered late rather than dropped, once; the handler keeps the newest
    // per kind of event (seq is passed to it).
    var sparse = !!(options && options.sparse);
    var seen = {};          // sparse: seqs delivered since the snapshot
    var seenList = [];
    // Events that arrive before the snapshot they follow: the server joins this socket to its
    // rooms, then reads and sends the snapshot, so an event committed in between reaches us
    // first. Kept, then played after the snapshot (those it already holds are skipped by seq).
    var early = [];
    var opts = Object.assign({
      auth: auth,
      transports: ["websocket", "polling"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      timeout: 10000,
    }, options || {});
    delete opts.sparse;
    delete opts.reorderMs;
    var socket = io(namespace, opts);

    function status(online) {
      if (handlers.status) handlers.status(online);
    }

    function dropHeld() {
      held = {}; heldCount = 0;
      if (gapTimer) { clearTimeout(gapTimer); gapTimer = null; }
    }

    function resync() {
      dropHeld();
      early = [];
      waitingForSnapshot = true;
      socket.emit("resync");
    }

    function deliver(msg) {
      lastSeq = msg.seq;
      handlers.event(msg.type, msg.data, msg.seq);
    }

    socket.on("connect", function () { status(true); });
    socket.on("disconnect", function (reason) {
      status(false); waitingForSnapshot = true; dropHeld(); early = [];
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
      dropHeld();
      seen = {}; seenList = [];
      lastSeq = state.seq;
      snapshotSeq = state.seq;
      waitingForSnapshot = false;
      handlers.snapshot(state);
      var pending = early;
      early = [];
      pending.forEach(onEvent);
    });
    function onEvent(msg) {
      if (waitingForSnapshot || lastSeq === null) {
        if (early.length < 500) early.push(msg);  // past that, the snapshot is newer anyway
        return;
      }
      if (sparse) {
        if (msg.seq <= snapshotSeq || seen[msg.seq]) return;  // in the snapshot, or a duplicate
        seen[msg.seq] = true; seenList.push(msg.seq);
        if (seenList.length > 1000) delete seen[seenList.shift()];
        if (msg.seq > lastSeq) lastSeq = msg.seq;
        handlers.event(msg.type, msg.data, msg.seq);
        return;
      }
      if (msg.seq <= lastSeq) return;          // duplicate or already in the snapshot
      if (msg.seq !== lastSeq + 1) {            // a gap: hold it, the missing one may follow
        if (!held[msg.seq]) { held[msg.seq] = msg; heldCount += 1; }
        if (heldCount > 500) { resync(); return; }
        if (!gapTimer) gapTimer = setTimeout(function () { gapTimer = null; resync(); }, REORDER_MS);
        return;
      }
      deliver(msg);
      while (held[lastSeq + 1]) {               // the gap is filled: play what was held, in order
        var next = held[lastSeq + 1];
        delete held[lastSeq + 1]; heldCount -= 1;
        deliver(next);
      }
      if (heldCount === 0 && gapTimer) { clearTimeout(gapTimer); gapTimer = null; }
    }
    socket.on("event", onEvent);

    return {
      socket: socket,
      resync: resync,
      lastSeq: function () { return lastSeq; },
      close: function () { socket.close(); },
    };
  }

  global.MotcuaRealtime = { connect: connect };
})(window);
