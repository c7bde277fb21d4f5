// The parts of the Chrome extension API the verifier uses (Manifest V3),
// typed here so the build needs no extra package.

declare namespace chrome {
  namespace runtime {
    interface MessageSender {
      tab?: { id?: number; url?: string };
      origin?: string;
      url?: string;
    }
    function getURL(path: string): string;
    function sendMessage<T = unknown>(message: unknown): Promise<T>;
    const onMessage: {
      addListener(cb: (message: unknown, sender: MessageSender, sendResponse: (response?: unknown) => void) => boolean | void): void;
    };
    const onInstalled: { addListener(cb: () => void): void };
    const onStartup: { addListener(cb: () => void): void };
  }
  namespace declarativeNetRequest {
    interface ModifyHeaderInfo {
      header: string;
      operation: 'append' | 'set' | 'remove';
      value?: string;
    }
    interface Rule {
      id: number;
      priority?: number;
      action: { type: 'block' | 'allow' | 'modifyHeaders' | 'allowAllRequests'; responseHeaders?: ModifyHeaderInfo[] };
      condition: {
        urlFilter?: string;
        regexFilter?: string;
        isUrlFilterCaseSensitive?: boolean;
        resourceTypes?: string[];
      };
    }
    function getDynamicRules(): Promise<Rule[]>;
    function updateDynamicRules(o: { removeRuleIds?: number[]; addRules?: Rule[] }): Promise<void>;
  }
  namespace alarms {
    function create(name: string, info: { periodInMinutes?: number; delayInMinutes?: number }): Promise<void>;
    const onAlarm: { addListener(cb: (a: { name: string }) => void): void };
  }
  namespace storage {
    const local: {
      get(keys: string | string[] | null): Promise<Record<string, unknown>>;
      set(items: Record<string, unknown>): Promise<void>;
    };
  }
  namespace action {
    function setBadgeText(o: { text: string; tabId?: number }): Promise<void>;
    function setBadgeBackgroundColor(o: { color: string; tabId?: number }): Promise<void>;
    function setTitle(o: { title: string; tabId?: number }): Promise<void>;
  }
}
