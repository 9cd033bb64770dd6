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
    /** Set when the alarm expires: from then on the server no longer shows it (hide it then too). */
    expiresAt?: string;
};
/**
 * `superseded`: a newer stream of this device opened (another tab set, a page of this browser in
 * another window), or the user opened more devices than Herald keeps (`reason` says which); this
 * client stopped and will not fight it. `expired`: the token expired and no `token` function was given to fetch another.
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
    /** When `superseded`: by a newer stream of this device, or because the user has too many devices. */
    reason?: 'newer-connection' | 'too-many-devices';
};
export type HeraldErrorEvent = {
    /** Herald's error code (`UNAUTHORIZED`, `RATE_LIMITED`, …), `NETWORK`, or `MALFORMED_EVENT` (a frame it could not read and skipped). */
    code: string;
    message: string;
    status?: number;
    /** True when the client gave up (state `closed`); otherwise it retries by itself. */
    fatal: boolean;
};
/** Alarms not read (`unread`) and not seen (`unseen`), archived ones left out: exact, from the server. */
export type Badge = {
    unread: number;
    unseen: number;
};
/**
 * A change of an alarm's state, from this device or any other (or a server's SQL): every alarm
 * in `ids`, or every alarm with seq ≤ `upTo`. In the user's ordered log, like alarms: `seq` comes
 * from the same sequence, exactly once, in order.
 */
export type InboxChange = {
    seq: number;
    change: 'read' | 'unread' | 'seen' | 'unseen' | 'archive' | 'unarchive';
    ids?: number[];
    upTo?: number;
};
/**
 * An alarm deleted (by remove(), another device, or a server): `id` and `seq` name the alarm, as
 * its `alarm` event did. In the ordered log like alarms: exactly once, in order. An alarm that
 * expired is not announced: its `expiresAt` said when it goes.
 */
export type Deleted = {
    id: number;
    seq: number;
};
export type Events = {
    alarm: Alarm;
    state: StateEvent;
    error: HeraldErrorEvent;
    badge: Badge;
    change: InboxChange;
    deleted: Deleted;
};
/** An alarm as history lists it, with its state (null, or when). */
export type HistoryItem = Alarm & {
    readAt: string | null;
    seenAt: string | null;
    archivedAt: string | null;
};
export type HistoryPage = {
    /** Newest first. */
    items: HistoryItem[];
    /** Pass as `before` for the next (older) page; null on the last one. */
    next: number | null;
    badge: Badge;
};
export type HistoryOptions = {
    /** Default `inbox`: not archived. */
    status?: 'inbox' | 'unread' | 'unseen' | 'archived' | 'all';
    before?: number;
    /** 1–100, default 20. */
    limit?: number;
};
/** Which alarms a mark changes: these ids, every alarm up to a seq, or `'all'` (all the client has seen). */
export type MarkTarget = number[] | {
    upTo: number;
} | 'all';
export type MarkResult = {
    changed: number;
    badge: Badge;
};
export type RemoveResult = {
    id: number;
    seq: number;
    badge: Badge;
};
export type ConnectOptions = {
    /** Herald's base URL. Default: the page's origin. */
    url?: string;
    userId: string;
    /** One BCP 47 tag or a comma list (`ja-JP,ko`). Default: the browser's languages. */
    lang?: string;
    /**
     * This browser's device: its streams supersede each other, never another device's. Default: a
     * random id kept in localStorage (one per browser, shared by its tabs); a string sets it; `null`
     * names none (the user's unnamed device, as a plain EventSource).
     */
    device?: string | null;
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
    /** The device this client streams as; undefined for the unnamed one. */
    readonly device: string | undefined;
    /** Adds a listener; returns the function that removes it. */
    on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void;
    off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): void;
    /** The user's badge, once the stream said it (tabs share it); updated by `badge` events. */
    readonly badge: Badge | undefined;
    /** Reopens the stream in `lang`, resuming after the last id (for every tab of the user). */
    setLang(lang: string): void;
    /**
     * Marks alarms read. `'all'` sends `upTo` = the newest seq this client has seen, so an alarm that
     * commits at the same moment stays unread. Rejects with an Error carrying Herald's `code` and
     * `status` (`ALARM_NOT_FOUND`, …). The change reaches every tab and device through the stream.
     */
    markRead(target: MarkTarget): Promise<MarkResult>;
    markUnread(target: MarkTarget): Promise<MarkResult>;
    markSeen(target: MarkTarget): Promise<MarkResult>;
    archive(target: MarkTarget): Promise<MarkResult>;
    unarchive(target: MarkTarget): Promise<MarkResult>;
    /**
     * Deletes one of the user's alarms (by its id). Every tab and device gets `deleted` through the
     * stream. Rejects with `ALARM_NOT_FOUND` for an alarm that is not the user's, gone, or expired.
     */
    remove(id: number): Promise<RemoveResult>;
    /** A page of the user's history, newest first, in the connection's language. */
    history(options?: HistoryOptions): Promise<HistoryPage>;
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
