# The most recent N records, numbered by one counter, kept for sending and replay.
# All memory is taken in the constructor; push() encodes straight into a slot and
# allocates nothing. It never writes to a port: the runtime drains it (peek/advance).
from array import array

import wire


class Ring:
    """N fixed slots of `slot_len` bytes; record `seq` lives in slot seq % N.

    Two readers: the send cursor (peek/advance), which the runtime drains as fast
    as the port takes lines, so a blocked port never stalls the control tick; and
    since(seq)/rewind(seq) for a host that reconnects and asks for what it missed.
    Sequence numbers start at `first_seq` and stay small ints for 2**30 records.
    """

    def __init__(self, n, slot_len=wire.MAX_RECORD, first_seq=0):
        if n < 1 or slot_len < 16:
            raise ValueError("a ring needs n >= 1 slots of >= 16 bytes")
        self.n = n
        self.slot_len = slot_len
        self.buf = bytearray(n * slot_len)
        self._mv = memoryview(self.buf)
        self.lens = array("H", bytes(2 * n))
        self.next_seq = first_seq  # the seq the next record gets
        self.count = 0  # records kept: seqs next_seq - count .. next_seq - 1
        self.cursor = first_seq  # next seq to send
        self.dropped = 0  # records overwritten before they were sent

    def first_seq(self):
        """The oldest seq still kept (== next_seq when the ring is empty)."""
        return self.next_seq - self.count

    def push(self, kind, fields, n=-1):
        """Store record `kind` with fields[0:n] (all after seq); returns its seq.
        On a ValueError (bad fields, too long) no seq is used and nothing is sent."""
        seq = self.next_seq
        if self.count == self.n:
            # The slot holds the oldest record: it goes now, whatever happens next.
            self.count -= 1
            if self.cursor < self.first_seq():
                self.cursor += 1
                self.dropped += 1
        off = (seq % self.n) * self.slot_len
        end = wire.encode_into(self.buf, off, kind, seq, fields, n, off + self.slot_len)
        self.lens[seq % self.n] = end - off
        self.next_seq = seq + 1
        self.count += 1
        return seq

    def get(self, seq):
        """The line of record `seq` (a memoryview, newline included) or None if it is
        not kept. The view is valid until that slot is reused."""
        if not self.first_seq() <= seq < self.next_seq:
            return None
        i = seq % self.n
        off = i * self.slot_len
        return self._mv[off:off + self.lens[i]]

    def missing(self, seq):
        """How many of the records from `seq` on are no longer kept (0: none lost)."""
        first = self.first_seq()
        return first - seq if seq < first else 0

    def since(self, seq):
        """Yield the kept lines of records seq, seq+1, ... up to the newest.
        Records lost before or during the iteration are skipped: check missing(seq)."""
        s = seq
        while True:
            first = self.first_seq()
            if s < first:
                s = first
            if s >= self.next_seq:
                return
            yield self.get(s)
            s += 1

    def rewind(self, seq):
        """Send again from `seq`: moves the send cursor, returns missing(seq).
        Raises ValueError if `seq` is newer than the next record's seq."""
        if seq > self.next_seq:
            raise ValueError("seq %d is newer than the newest record (%d)"
                             % (seq, self.next_seq - 1))
        lost = self.missing(seq)
        self.cursor = seq + lost
        return lost

    def pending(self):
        """Records not yet sent."""
        return self.next_seq - self.cursor

    def peek(self):
        """The next line to send (memoryview) or None; advance() once it is written."""
        if self.cursor >= self.next_seq:
            return None
        return self.get(self.cursor)

    def send_one(self, port):
        """Write the next unsent record to `port` (port.write(buf, off, n)) and advance;
        False when there is none. Allocates nothing: the slot is written in place."""
        seq = self.cursor
        if seq >= self.next_seq:
            return False
        i = seq % self.n
        port.write(self.buf, i * self.slot_len, self.lens[i])
        self.cursor = seq + 1
        return True

    def advance(self):
        if self.cursor < self.next_seq:
            self.cursor += 1
