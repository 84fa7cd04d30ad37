// Progressive enhancement of the search form's CPV codes input: suggests codes for the one
// being typed (the last in the list), from its digits (4542…) or from words of its
// description (fitted kitchens). With a CPV list imported the suggestions carry their
// descriptions; without one they are the codes held by suppliers on the register, by
// digits only. Without this file the input is plain text and the search works the same.
//
// The ARIA 1.2 combobox pattern: the input is the combobox, the suggestions a listbox,
// arrow keys move the active option (aria-activedescendant), Enter or a click picks it,
// Escape closes; a polite live region says how many suggestions there are. No inline
// styles (the Content-Security-Policy forbids them): the list is shown and hidden with the
// `hidden` attribute and the active option marked with GOV.UK Frontend's bold utility.

const DEBOUNCE_MS = 200
const MIN_DIGITS = 2
const MIN_LETTERS = 3
const ACTIVE_CLASS = 'govuk-!-font-weight-bold'

function lastToken (value) {
  const match = value.match(/([^\s,;]*)$/)
  return match ? match[1] : ''
}

// Words typed after the last comma or semicolon, from the first token with a letter in it
// ("45321000 fitted kitch" -> "fitted kitch"), or '' when the code is being typed as digits.
function lastWords (value) {
  const match = value.match(/(?:^|\s)([^\s,;]*\p{L}[^,;]*)$/u)
  return match ? match[1].trim() : ''
}

// What is being typed: words of a description, else the digits of a code.
function currentQuery (value) {
  const words = lastWords(value)
  if (words) return { text: words, words: true }
  return { text: lastToken(value).replace(/\D/g, '').slice(0, 8), words: false }
}

function replaceQuery (value, code) {
  const trimmed = value.replace(/\s+$/, '')
  const words = lastWords(trimmed)
  const typed = words ? trimmed.slice(trimmed.lastIndexOf(words)) : lastToken(value)
  const kept = words ? trimmed : value
  return kept.slice(0, kept.length - typed.length) + code + ', '
}

function optionText (item) {
  const count = typeof item.suppliers === 'number'
    ? `${item.suppliers} ${item.suppliers === 1 ? 'supplier' : 'suppliers'}`
    : ''
  if (item.description) return `${item.code} ${item.description}${count ? ` (${count})` : ''}`
  return `${item.code} – held by ${count}`
}

function enhance (input) {
  const source = input.dataset.source
  if (!source || !window.fetch) return

  const listId = `${input.id}-suggestions`
  const list = document.createElement('ul')
  list.id = listId
  list.className = 'govuk-list govuk-body-s govuk-!-margin-top-1'
  list.setAttribute('role', 'listbox')
  list.setAttribute('aria-label', 'Suggested CPV codes')
  list.hidden = true

  const status = document.createElement('div')
  status.className = 'govuk-visually-hidden'
  status.setAttribute('aria-live', 'polite')
  status.setAttribute('role', 'status')

  input.insertAdjacentElement('afterend', list)
  list.insertAdjacentElement('afterend', status)
  input.setAttribute('role', 'combobox')
  input.setAttribute('aria-autocomplete', 'list')
  input.setAttribute('aria-expanded', 'false')
  input.setAttribute('aria-controls', listId)

  let options = []
  let active = -1
  let timer = null
  let request = 0

  function close () {
    list.hidden = true
    list.replaceChildren()
    options = []
    active = -1
    input.setAttribute('aria-expanded', 'false')
    input.removeAttribute('aria-activedescendant')
  }

  function setActive (index) {
    options.forEach((option, i) => {
      const on = i === index
      option.setAttribute('aria-selected', on ? 'true' : 'false')
      option.classList.toggle(ACTIVE_CLASS, on)
    })
    active = index
    if (index >= 0) {
      input.setAttribute('aria-activedescendant', options[index].id)
    } else {
      input.removeAttribute('aria-activedescendant')
    }
  }

  function pick (index) {
    const code = options[index] && options[index].dataset.code
    if (!code) return
    input.value = replaceQuery(input.value, code)
    close()
    input.focus()
  }

  function show (codes) {
    list.replaceChildren()
    options = codes.map((item, i) => {
      const option = document.createElement('li')
      option.id = `${listId}-${i}`
      option.dataset.code = item.code
      option.setAttribute('role', 'option')
      option.setAttribute('aria-selected', 'false')
      option.textContent = optionText(item)
      option.addEventListener('mousedown', (event) => {
        event.preventDefault() // keep focus in the input
        pick(i)
      })
      list.appendChild(option)
      return option
    })
    active = -1
    list.hidden = options.length === 0
    input.setAttribute('aria-expanded', options.length ? 'true' : 'false')
    status.textContent = options.length
      ? `${options.length} CPV ${options.length === 1 ? 'code' : 'codes'} suggested. Use the up and down arrows to choose.`
      : 'No CPV codes suggested.'
  }

  async function suggest () {
    const query = currentQuery(input.value)
    if (query.text.length < (query.words ? MIN_LETTERS : MIN_DIGITS)) {
      close()
      return
    }
    const mine = ++request
    try {
      const response = await fetch(`${source}?q=${encodeURIComponent(query.text)}`, {
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      })
      if (!response.ok || mine !== request) return
      const data = await response.json()
      if (mine === request) show(Array.isArray(data.codes) ? data.codes : [])
    } catch (error) {
      close() // suggestions are a nicety: typing still works
    }
  }

  input.addEventListener('input', () => {
    window.clearTimeout(timer)
    timer = window.setTimeout(suggest, DEBOUNCE_MS)
  })
  input.addEventListener('keydown', (event) => {
    if (list.hidden || !options.length) return
    if (event.key === 'ArrowDown') {
      event.preventDefault()
      setActive((active + 1) % options.length)
    } else if (event.key === 'ArrowUp') {
      event.preventDefault()
      setActive(active <= 0 ? options.length - 1 : active - 1)
    } else if (event.key === 'Enter' && active >= 0) {
      event.preventDefault() // pick the code rather than submit the form
      pick(active)
    } else if (event.key === 'Escape') {
      event.preventDefault()
      close()
    }
  })
  input.addEventListener('blur', () => window.setTimeout(close, 100))
}

document.querySelectorAll('input[data-module="app-cpv-autocomplete"]').forEach(enhance)
