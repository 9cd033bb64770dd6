export type Alarm = {
    id: number;
    /** Per-user, only grows: the SSE id, and where a resumed stream starts after. */
    seq: number;
    /** The language `message` is in (the best fit the alarm has). */
    locale: string;
    /** Plain text (never HTML): a template alarm's is rendered in `locale` and the stream's time zone. */
    message: string;
    /** The template key, for an alarm published with `template` + `params`. */
    template?: string;
    /** Set when a template alarm's stored params no longer fit (`INVALID_PARAMS`: those show as `{name}`). */
    renderError?: string;
    data: unknown;
    createdAt: string;
};
/**
 * `superseded`: a newer stream for this user opened elsewhere; this client stopped and will not
 * fight it. `expired`: the token expired and no `token` function was given to fetch another.
 * `closed`: close() was called, or an error that retrying cannot fix (see the `error` event).
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'superseded' | 'expired' | 'closed';
/** `leader` holds the stream for every tab, `follower` gets alarms from it, `solo` streams alone. */
export type Role = 'leader' | 'follower' | 'solo';
export type StateEvent = {
    state: ConnectionState;
    role: Role;
    /** The language requested (`setLang`), shared by the tabs of one user. */
    lang: string;
    /** The stream's negotiated language, once known. */
    locale?: string;
    /** The seq the client has delivered up to. */
    lastId?: number;
    /** While `reconnecting`: how long until the next try. */
    retryInMs?: number;
};
export type HeraldErrorEvent = {
    /** Herald's error code (`UNAUTHORIZED`, `RATE_LIMITED`, …), `NETWORK`, or `MALFORMED_EVENT` (a frame it could not read and skipped). */
    code: string;
    message: string;
    status?: number;
    /** True when the client gave up (state `closed`); otherwise it retries by itself. */
    fatal: boolean;
};
export type Events = {
    alarm: Alarm;
    state: StateEvent;
    error: HeraldErrorEvent;
};
export type ConnectOptions = {
    /** Herald's base URL. Default: the page's origin. */
    url?: string;
    userId: string;
    /** One BCP 47 tag or a comma list (`ja-JP,ko`). Default: the browser's languages. */
    lang?: string;
    /**
     * The IANA time zone template alarms show dates in. Default: the browser's
     * (`Intl.DateTimeFormat().resolvedOptions().timeZone`); null: send none (the server's default).
     */
    timeZone?: string | null;
    /**
     * Start after this seq on the first stream instead of the stored last id (0: from the first
     * alarm), e.g. to read earlier alarms again in a new language. Later reconnects resume as usual.
     */
    since?: number;
    /** A subscriber token, or a function that fetches a fresh one (called again when it expires). */
    token?: string | (() => string | Promise<string>);
    /** Share one stream between this user's tabs. Default: true where Web Locks and BroadcastChannel exist. */
    shared?: boolean;
    /** Where the last id is kept across reloads (per user). Default: localStorage; null: nowhere. */
    storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
    /** Reconnect delays: exponential from `initialMs` (default: the server's `retry:`), capped, jittered. */
    backoff?: {
        initialMs?: number;
        maxMs?: number;
    };
};
export type Connection = {
    readonly state: ConnectionState;
    readonly role: Role;
    readonly lang: string;
    readonly locale: string | undefined;
    readonly lastId: number | undefined;
    /** Adds a listener; returns the function that removes it. */
    on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void;
    off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): void;
    /** Reopens the stream in `lang`, resuming after the last id (for every tab of the user). */
    setLang(lang: string): void;
    close(): void;
};
export declare function connect(options: ConnectOptions): Connection;
type SseEvent = {
    event?: string;
    data?: string;
    id?: string;
    retry?: number;
};
/** The SSE parsing rules (html.spec.whatwg.org, "Parsing an event stream"), for text chunks. */
export declare function createParser(dispatch: (event: SseEvent) => void): (chunk: string) => void;
export {};
