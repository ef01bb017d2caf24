/* The booking page's proof of work: solves an ALTCHA challenge (GET /api/v1/booking-challenge)
 * in the browser and gives the payload the booking request carries as "altcha".
 *
 * Not the ALTCHA widget (about 114 kB, with its own checkbox): on a thin link the page stays
 * small, and the work runs in the background while the citizen types. Both formats of the
 * python library `altcha` are solved:
 *   v1  {algorithm: "SHA-256"|"SHA-1"|"SHA-512", challenge, salt, maxNumber|maxnumber, signature}
 *       find n in [0, max] with hex(hash(salt + n)) == challenge;
 *       payload base64(JSON {algorithm, challenge, number, salt, signature})
 *   v2  {parameters: {algorithm: "SHA-256"|"SHA-384"|"SHA-512"|"PBKDF2/SHA-…", nonce, salt, cost,
 *       keyLength, keyPrefix, …}, signature}: find the counter whose derived key starts with
 *       keyPrefix (password = nonce bytes + the counter as a big-endian uint32);
 *       payload base64(JSON {challenge, solution: {counter, derivedKey, time}})
 * SHA-256 is computed here (Web Crypto is missing on pages served over plain http on a LAN);
 * the other hashes and PBKDF2 use Web Crypto. Plain ES5 with Promises.
 *
 *   MotcuaPow.solve(challenge) -> Promise(payload string)
 *   MotcuaPow.sha256Hex(string) (for tests)
 */
(function (global) {
  "use strict";

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ];
  var W = new Int32Array(64);

  /** SHA-256 of a byte array: a Uint8Array of 32 bytes. */
  function sha256(bytes) {
    var n = bytes.length;
    var total = ((n + 9 + 63) >> 6) << 6;
    var m = new Uint8Array(total);
    m.set(bytes);
    m[n] = 0x80;
    var bits = n * 8;
    m[total - 4] = (bits >>> 24) & 255; m[total - 3] = (bits >>> 16) & 255;
    m[total - 2] = (bits >>> 8) & 255; m[total - 1] = bits & 255;
    m[total - 5] = Math.floor(n / 0x20000000) & 255;  // the high word of the length
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
    var h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var off = 0; off < total; off += 64) {
      var i;
      for (i = 0; i < 16; i++) {
        var j = off + i * 4;
        W[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
      }
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (h + S1 + ch + K[i] + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    var out = new Uint8Array(32);
    [h0, h1, h2, h3, h4, h5, h6, h7].forEach(function (v, k) {
      out[k * 4] = (v >>> 24) & 255; out[k * 4 + 1] = (v >>> 16) & 255;
      out[k * 4 + 2] = (v >>> 8) & 255; out[k * 4 + 3] = v & 255;
    });
    return out;
  }

  function utf8(s) {
    var bin = unescape(encodeURIComponent(s));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }

  function fromHex(h) {
    var out = new Uint8Array(h.length >> 1);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
    return out;
  }

  function b64json(obj) {
    return global.btoa(unescape(encodeURIComponent(JSON.stringify(obj))));
  }

  function subtle() {
    var c = global.crypto;
    return c && c.subtle ? c.subtle : null;
  }

  function digest(algorithm, bytes) {
    // -> Promise(Uint8Array): SHA-256 here, the others through Web Crypto.
    if (algorithm === "SHA-256") return Promise.resolve(sha256(bytes));
    var s = subtle();
    if (!s) return Promise.reject(new Error("no Web Crypto for " + algorithm));
    return s.digest(algorithm, bytes).then(function (buf) { return new Uint8Array(buf); });
  }

  var CHUNK = 4000;  // tries between two yields to the page (it stays responsive)

  function later(fn) { global.setTimeout(fn, 0); }

  function solveV1(ch) {
    var algorithm = String(ch.algorithm || "SHA-256").toUpperCase();
    var max = ch.maxNumber || ch.maxnumber || 1000000;
    var target = String(ch.challenge).toLowerCase();
    var started = Date.now();
    function payload(n) {
      return b64json({ algorithm: ch.algorithm, challenge: ch.challenge, number: n, salt: ch.salt,
                       signature: ch.signature, took: Date.now() - started });
    }
    if (algorithm === "SHA-256") {
      return new Promise(function (resolve, reject) {
        var n = 0;
        (function run() {
          var end = Math.min(n + CHUNK, max + 1);
          for (; n < end; n++) {
            if (hex(sha256(utf8(ch.salt + n))) === target) { resolve(payload(n)); return; }
          }
          if (n > max) reject(new Error("no solution")); else later(run);
        })();
      });
    }
    var n = 0;
    function next() {
      if (n > max) return Promise.reject(new Error("no solution"));
      var k = n++;
      return digest(algorithm, utf8(ch.salt + k)).then(function (d) {
        return hex(d) === target ? payload(k) : next();
      });
    }
    return next();
  }

  function deriveV2(p, salt, password) {
    var algorithm = String(p.algorithm).toUpperCase();
    var length = p.keyLength || 32;
    if (algorithm.indexOf("PBKDF2") === 0) {
      var s = subtle();
      if (!s) return Promise.reject(new Error("no Web Crypto for PBKDF2"));
      var hash = algorithm.split("/")[1] || "SHA-256";
      return s.importKey("raw", password, "PBKDF2", false, ["deriveBits"]).then(function (key) {
        return s.deriveBits({ name: "PBKDF2", salt: salt, iterations: p.cost, hash: hash },
                            key, length * 8);
      }).then(function (bits) { return new Uint8Array(bits); });
    }
    if (algorithm === "SCRYPT" || algorithm === "ARGON2ID") {
      return Promise.reject(new Error("unsupported " + algorithm));
    }
    var h = algorithm === "SHA-384" || algorithm === "SHA-512" ? algorithm : "SHA-256";
    var data = new Uint8Array(salt.length + password.length);
    data.set(salt); data.set(password, salt.length);
    var rounds = Math.max(1, p.cost || 1);
    if (h === "SHA-256") {
      var d = data;
      for (var i = 0; i < rounds; i++) d = sha256(d);
      return Promise.resolve(d.slice(0, length));
    }
    var chain = digest(h, data);
    for (var r = 1; r < rounds; r++) chain = chain.then(function (x) { return digest(h, x); });
    return chain.then(function (x) { return x.slice(0, length); });
  }

  function solveV2(ch) {
    var p = ch.parameters;
    var nonce = fromHex(p.nonce), salt = fromHex(p.salt);
    var prefix = String(p.keyPrefix || "00").toLowerCase();
    var started = Date.now();
    var counter = 0;
    function password(c) {
      var out = new Uint8Array(nonce.length + 4);
      out.set(nonce);
      out[nonce.length] = (c >>> 24) & 255; out[nonce.length + 1] = (c >>> 16) & 255;
      out[nonce.length + 2] = (c >>> 8) & 255; out[nonce.length + 3] = c & 255;
      return out;
    }
    return new Promise(function (resolve, reject) {
      function batch() {
        var k = 0;
        (function one() {
          var c = counter++;
          deriveV2(p, salt, password(c)).then(function (key) {
            var h = hex(key);
            if (h.indexOf(prefix) === 0) {
              resolve(b64json({ challenge: ch, solution: { counter: c, derivedKey: h,
                                                           time: Date.now() - started } }));
              return;
            }
            if (counter > 0xffffffff) { reject(new Error("no solution")); return; }
            if (++k < CHUNK) one(); else later(batch);
          }, reject);
        })();
      }
      batch();
    });
  }

  function solve(challenge) {
    var ch = challenge;
    // Accept the challenge itself or an object that carries it.
    if (ch && ch.challenge && typeof ch.challenge === "object") ch = ch.challenge;
    if (ch && ch.parameters) return solveV2(ch);
    if (ch && typeof ch.challenge === "string" && typeof ch.salt === "string") return solveV1(ch);
    return Promise.reject(new Error("unknown challenge"));
  }

  global.MotcuaPow = {
    solve: solve,
    sha256Hex: function (s) { return hex(sha256(utf8(s))); },
  };
})(window);
