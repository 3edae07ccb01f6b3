import { isDurableError } from '@durable/core';
import { isTextFormat } from '../src/sqs-consumer.js';
import { parseEventText } from '../src/text-format.js';

// SQS bodies in the protobuf text format, as the Go sm-server's clients write them
// (proto.MarshalTextString of an EventRequest), and malformed ones.

/** What github.com/golang/protobuf's MarshalTextString writes: `< >` around messages, one field a line. */
const GO_TEXT = `event: <
  event_id: "5a2b0c4e-17c2-4b5f-9d0e-3c1f2a4b5c6d"
  timestamp: <
    seconds: 1661733324
    nanos: 461000000
  >
  transition: <
    event: "accept"
  >
  originator: "New SQS Client with Details"
  details: "{\\"order_id\\":\\"o-1\\",\\"cost\\":99.99}"
>
dest: "order-1"
`;

it('reads the Go client text: every field of the event and the destination', () => {
  expect(isTextFormat(GO_TEXT)).toBe(true);
  expect(parseEventText(GO_TEXT)).toEqual({
    dest: 'order-1',
    event: 'accept',
    eventId: '5a2b0c4e-17c2-4b5f-9d0e-3c1f2a4b5c6d',
    timestamp: { seconds: 1661733324, nanos: 461000000 },
    originator: 'New SQS Client with Details',
    details: '{"order_id":"o-1","cost":99.99}',
  });
});

it('reads the other spellings: { } and no colon before a message, one line, separators, comments, joined and escaped strings', () => {
  expect(
    parseEventText(
      `# an event\nevent { transition { event: 'sh' "ip" }, originator: "caf\\303\\251 \\x41\\u00e9" ; } dest: "o-2"`,
    ),
  ).toEqual({ dest: 'o-2', event: 'ship', originator: 'café Aé' });
  // The sm-server's v1beta spelling names the machine `id` (and its configuration `config`).
  expect(
    parseEventText('event: { transition: { event: "ship" } } config: "test.orders" id: "o-3"'),
  ).toEqual({ dest: 'o-3', event: 'ship' });
  // Its first clients sent a bare Event (the machine in the DestinationId attribute).
  expect(parseEventText('event_id: "e-9" transition: < event: "deliver" >')).toEqual({
    event: 'deliver',
    eventId: 'e-9',
  });
  // Literal non-ASCII text stays itself.
  expect(parseEventText('event { transition { event: "ändern" } } dest: "ö"')).toEqual({
    dest: 'ö',
    event: 'ändern',
  });
});

it('a bare event name is not text format', () => {
  for (const body of ['accept', 'ship order', 'order:paid', 'x'.repeat(300), '', '{}'])
    expect(isTextFormat(body)).toBe(false);
  for (const body of ['dest: "x"', ' event {', 'event<', '# c\nevent_id: "1"'])
    expect(isTextFormat(body)).toBe(true);
});

it.each([
  [
    'event { transition { event: "a" } } dest: "o" bogus: 1',
    /line 1, column 47: EventRequest has no field "bogus"/,
  ],
  ['event { transition { event: "a" }', /expected "}", found the end/],
  ['event { transition { event: "a" } > dest: "o"', /expected a field name, found ">"/],
  ['event { transition { event: "a } } dest: "o"', /unterminated string/],
  ['dest: o-1', /dest needs a quoted string, found "o"/],
  ['dest: "a" dest: "b"', /dest is given twice/],
  ['event { timestamp { seconds: "soon" } }', /seconds needs an integer/],
  ['event { timestamp { seconds: 99999999999999999999 } }', /seconds is out of range/],
  ['event { timestamp { nanos: 1.5 } }', /nanos needs an integer/],
  ['dest: "\\q"', /bad escape \\q/],
  ['dest: "\\377"', /not valid UTF-8/],
  ['dest "o"', /expected ":" after dest/],
  ['event: 5', /expected "\{" or "<" to open event/],
  ['dest: "o" }', /column 11: expected a field name, found "\}"/],
  ['dest: "o" @', /unexpected "@"/],
  [
    'event ' + '{ transition '.repeat(40),
    /nested deeper than 32|Transition has no field "transition"/,
  ],
])('bad text %j is an INVALID_REQUEST naming where: %s', (body, message) => {
  let caught: unknown;
  try {
    parseEventText(body);
  } catch (error) {
    caught = error;
  }
  expect(isDurableError(caught, 'INVALID_REQUEST')).toBe(true);
  expect((caught as Error).message).toMatch(/body is not a valid text-format EventRequest/);
  expect((caught as Error).message).toMatch(message);
});

it('a body over 256 KiB is refused before parsing', () => {
  expect(() => parseEventText(`dest: "${'x'.repeat(300_000)}"`)).toThrow(/longer than 262144/);
});
